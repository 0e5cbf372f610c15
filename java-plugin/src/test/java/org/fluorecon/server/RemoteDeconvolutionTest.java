package org.fluorecon.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import ij.ImagePlus;
import ij.ImageStack;
import ij.io.FileSaver;
import ij.process.FloatProcessor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.fluorecon.core.Progress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server path of Deconvolve… against a scripted server: spec, polling, result, cancel. */
class RemoteDeconvolutionTest {
    @TempDir
    Path tmp;
    HttpServer http;
    final List<String> requests = new CopyOnWriteArrayList<>();
    final AtomicInteger polls = new AtomicInteger();
    volatile String submitted = "";
    volatile byte[] resultTiff;

    @BeforeEach
    void start() throws IOException {
        Files.writeString(tmp.resolve("token"), "t\n");
        http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        http.createContext("/", this::handle);
        http.start();
    }

    @AfterEach
    void stop() {
        http.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        String key = ex.getRequestMethod() + " " + ex.getRequestURI().getPath();
        requests.add(key);
        byte[] in = ex.getRequestBody().readAllBytes();
        String json;
        int status = 200;
        switch (key) {
            case "GET /v1/health":
                json = "{\"version\": \"0.1.0\", \"device\": \"cpu\"}";
                break;
            case "POST /v1/jobs":
                submitted = new String(in, StandardCharsets.ISO_8859_1);
                status = 201;
                json = "{\"id\": \"j1\", \"state\": \"queued\", \"progress\": 0}";
                break;
            case "GET /v1/jobs/j1":
                int n = polls.incrementAndGet();
                json = n < 4 ? "{\"id\": \"j1\", \"state\": \"running\", \"progress\": " + (n * 0.25) + "}"
                        : "{\"id\": \"j1\", \"state\": \"succeeded\", \"progress\": 1}";
                break;
            case "GET /v1/jobs/j1/result":
                ex.sendResponseHeaders(200, resultTiff.length);
                ex.getResponseBody().write(resultTiff);
                ex.close();
                return;
            case "DELETE /v1/jobs/j1":
                json = "{\"id\": \"j1\", \"state\": \"cancelled\", \"progress\": 0.25}";
                break;
            default:
                status = 404;
                json = "{\"detail\": \"no\"}";
        }
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
        ex.close();
    }

    private ServerClient client() {
        return new ServerClient("http://127.0.0.1:" + http.getAddress().getPort(), tmp.resolve("token"));
    }

    /** A 2-channel, 3-frame hyperstack, 0.065 µm pixels. */
    private static ImagePlus hyperstack(float base) {
        ImageStack st = new ImageStack(8, 6);
        for (int i = 0; i < 6; i++) {
            float[] px = new float[48];
            java.util.Arrays.fill(px, base + i);
            st.addSlice(new FloatProcessor(8, 6, px));
        }
        ImagePlus imp = new ImagePlus("cells.tif", st);
        imp.setDimensions(2, 1, 3);
        imp.setOpenAsHyperStack(true);
        imp.getCalibration().pixelWidth = 0.065;
        imp.getCalibration().pixelHeight = 0.065;
        imp.getCalibration().setUnit("micron");
        imp.getCalibration().frameInterval = 5;
        return imp;
    }

    @Test
    void submitsPollsAndOpensTheResultWithTheInputsDimensions() {
        ImagePlus imp = hyperstack(1);
        ImagePlus server = hyperstack(100);
        server.setDimensions(1, 6, 1); // the server's TIFF may come back as a plain stack
        resultTiff = new FileSaver(server).serialize();
        RemoteDeconvolution.Settings s = new RemoteDeconvolution.Settings();
        s.method = "rltv";
        s.iterations = 7;
        s.na = 1.2;
        RemoteDeconvolution job = new RemoteDeconvolution(imp, null, s, client()).pollEvery(5);
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertTrue(job.getSpecJson().contains("\"psf\": {\"na\": 1.2, \"wavelength_nm\": 520.0, \"ni\": 1.515, "
                + "\"ns\": 1.33, \"pixel_size_nm\": 65.0}"), job.getSpecJson());
        List<Double> shown = new ArrayList<>();
        boolean ok = job.process(new Progress() {
            @Override
            public void update(long done, long total) {
                shown.add((double) done / total);
            }

            @Override
            public boolean isCancelled() {
                return false;
            }
        });
        assertTrue(ok, job.getErrorMessage());
        assertTrue(submitted.contains("\"method\": \"rltv\"") && submitted.contains("\"num_iter\": 7"), submitted);
        ImagePlus out = job.getResult();
        assertEquals("cells-deconvolved", out.getTitle());
        assertEquals(2, out.getNChannels());
        assertEquals(3, out.getNFrames());
        assertEquals(0.065, out.getCalibration().pixelWidth, 1e-12);
        assertEquals(5, out.getCalibration().frameInterval, 1e-12);
        assertEquals(105f, out.getStack().getProcessor(6).getf(0), 0f);
        assertTrue(shown.contains(0.5) && shown.get(shown.size() - 1) == 1.0, shown.toString());
        assertTrue(((String) out.getProperty("Info")).contains("server.version = 0.1.0"));
        assertEquals("DELETE /v1/jobs/j1", requests.get(requests.size() - 1)); // fetched job cleaned up
    }

    @Test
    void cancellingDeletesTheJobAndLeavesNoResult() {
        RemoteDeconvolution job = new RemoteDeconvolution(hyperstack(1), null, new RemoteDeconvolution.Settings(),
                client()).pollEvery(5);
        boolean ok = job.process(new Progress() {
            @Override
            public void update(long done, long total) {
            }

            @Override
            public boolean isCancelled() {
                return polls.get() >= 2;
            }
        });
        assertFalse(ok);
        assertTrue(job.isCancelled());
        assertNull(job.getResult());
        assertTrue(requests.contains("DELETE /v1/jobs/j1"));
        assertFalse(requests.contains("GET /v1/jobs/j1/result"));
    }

    @Test
    void uncalibratedImageAndBadSettingsAreRefusedBeforeUpload() {
        ImagePlus imp = new ImagePlus("raw", new FloatProcessor(8, 8));
        RemoteDeconvolution job = new RemoteDeconvolution(imp, null, new RemoteDeconvolution.Settings(), client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("has no pixel size"), job.getErrorMessage());
        RemoteDeconvolution.Settings s = new RemoteDeconvolution.Settings();
        s.method = "magic";
        job = new RemoteDeconvolution(hyperstack(1), null, s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().startsWith("method = 'magic' is not a server method"), job.getErrorMessage());
        s.method = "rl";
        s.na = 1.6;
        job = new RemoteDeconvolution(hyperstack(1), null, s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("below the immersion index"), job.getErrorMessage());
        assertTrue(requests.isEmpty(), requests.toString());
    }

    @Test
    void unitsConvertToNm() {
        assertEquals(65, RemoteDeconvolution.toNm(0.065, "µm"), 1e-9);
        assertEquals(65, RemoteDeconvolution.toNm(0.065, "micron"), 1e-9);
        assertEquals(65, RemoteDeconvolution.toNm(65, "nm"), 1e-9);
        assertTrue(Double.isNaN(RemoteDeconvolution.toNm(1, "pixel")));
    }
}
