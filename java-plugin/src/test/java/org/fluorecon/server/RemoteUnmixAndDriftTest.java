package org.fluorecon.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import ij.ImagePlus;
import ij.ImageStack;
import ij.io.FileSaver;
import ij.measure.ResultsTable;
import ij.process.FloatProcessor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.fluorecon.core.Progress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Unmix… and Correct drift… against a scripted server: the spec sent, the result's shape, errors. */
class RemoteUnmixAndDriftTest {
    @TempDir
    Path tmp;
    HttpServer http;
    final List<String> requests = new CopyOnWriteArrayList<>();
    final AtomicInteger polls = new AtomicInteger();
    volatile String submitted = "";
    volatile byte[] resultTiff;
    volatile String submitError; // when set, POST /v1/jobs answers 422 with this detail

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
                json = "{\"version\": \"0.1.0\"}";
                break;
            case "POST /v1/jobs":
                submitted = new String(in, StandardCharsets.ISO_8859_1);
                if (submitError != null) {
                    status = 422;
                    json = Json.write(java.util.Map.of("detail", submitError));
                } else {
                    status = 201;
                    json = "{\"id\": \"j1\", \"state\": \"queued\", \"progress\": 0}";
                }
                break;
            case "GET /v1/jobs/j1":
                int n = polls.incrementAndGet();
                json = n < 3 ? "{\"id\": \"j1\", \"state\": \"running\", \"progress\": 0.5}"
                        : "{\"id\": \"j1\", \"state\": \"succeeded\", \"progress\": 1, \"message\": \"Done.\"}";
                break;
            case "GET /v1/jobs/j1/result":
                ex.sendResponseHeaders(200, resultTiff.length);
                ex.getResponseBody().write(resultTiff);
                ex.close();
                return;
            case "DELETE /v1/jobs/j1":
                json = "{\"id\": \"j1\", \"state\": \"cancelled\", \"progress\": 0.5}";
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

    private static ImagePlus stack(String title, int c, int z, int t, float base) {
        ImageStack st = new ImageStack(20, 18);
        for (int i = 0; i < c * z * t; i++) {
            float[] px = new float[20 * 18];
            java.util.Arrays.fill(px, base + i);
            st.addSlice(new FloatProcessor(20, 18, px));
        }
        ImagePlus imp = new ImagePlus(title, st);
        imp.setDimensions(c, z, t);
        if (c * t > 1) {
            imp.setOpenAsHyperStack(true);
        }
        imp.getCalibration().pixelWidth = 0.1;
        imp.getCalibration().pixelHeight = 0.1;
        imp.getCalibration().setUnit("micron");
        return imp;
    }

    private static Progress cancelWhen(java.util.function.BooleanSupplier cancel) {
        return new Progress() {
            @Override
            public void update(long done, long total) {
            }

            @Override
            public boolean isCancelled() {
                return cancel.getAsBoolean();
            }
        };
    }

    @Test
    void unmixSendsSpectraAndShapesOneChannelPerLabelPlusResidual() {
        ImagePlus server = stack("r", 1, 1, 2 * (2 + 4), 0); // 2 frames × (2 labels + 4 residual channels)
        server.setProperty("Info", "fluorecon unmix\nchannels = DAPI,EGFP,residual1,residual2,residual3,residual4\n");
        resultTiff = new FileSaver(server).serialize();
        RemoteUnmix.Settings s = new RemoteUnmix.Settings();
        s.spectra = " DAPI, EGFP ,";
        s.residual = true;
        s.offset = 100;
        RemoteUnmix job = new RemoteUnmix(stack("lambda.tif", 4, 1, 2, 1), s, client()).pollEvery(5);
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertEquals("{\"task\": \"unmix\", \"method\": \"nnls\", \"spectra\": [\"DAPI\", \"EGFP\"], "
                + "\"lambda_start_nm\": 430.0, \"lambda_stop_nm\": 710.0, \"offset\": 100.0, \"residual\": true}",
                job.getSpecJson());
        assertTrue(job.process(Progress.NONE), job.getErrorMessage());
        ImagePlus out = job.getResult();
        assertEquals("lambda-unmixed", out.getTitle());
        assertArrayEquals(new int[] {6, 1, 2}, new int[] {out.getNChannels(), out.getNSlices(), out.getNFrames()});
        assertEquals(0.1, out.getCalibration().pixelWidth, 1e-12);
        assertEquals("EGFP", out.getStack().getSliceLabel(2));
        assertEquals("residual1", out.getStack().getSliceLabel(9));
        assertEquals(List.of("DAPI", "EGFP", "residual1", "residual2", "residual3", "residual4"), job.getChannelNames());
        assertTrue(((String) out.getProperty("Info")).contains("fluorecon.command = Unmix"));
        assertEquals("DELETE /v1/jobs/j1", requests.get(requests.size() - 1));
    }

    @Test
    void unmixBlindLabelsMeanNmfAndBadInputIsRefusedBeforeUpload() {
        RemoteUnmix.Settings s = new RemoteUnmix.Settings();
        s.labels = 3;
        RemoteUnmix job = new RemoteUnmix(stack("l", 4, 1, 1, 1), s, client());
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertTrue(job.getSpecJson().contains("\"method\": \"nmf\", \"blind\": 3"), job.getSpecJson());
        assertFalse(job.getSpecJson().contains("spectra"), job.getSpecJson());

        job = new RemoteUnmix(stack("grey", 1, 5, 1, 1), new RemoteUnmix.Settings(), client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("has 1 channel; unmixing needs a multichannel"), job.getErrorMessage());
        s = new RemoteUnmix.Settings();
        s.spectra = "DAPI,EGFP,mCherry";
        job = new RemoteUnmix(stack("two", 2, 1, 1, 1), s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().startsWith("3 spectra cannot be unmixed from 2 channels"), job.getErrorMessage());
        s.method = "magic";
        job = new RemoteUnmix(stack("l", 4, 1, 1, 1), s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().startsWith("method = 'magic' is not an unmixing method"), job.getErrorMessage());
        assertTrue(requests.isEmpty(), requests.toString());
    }

    @Test
    void theServersRefusalIsTheMessage() {
        submitError = "Unknown spectrum 'GFPX'; built-in spectra are DAPI, Hoechst, EGFP.";
        RemoteUnmix.Settings s = new RemoteUnmix.Settings();
        s.spectra = "DAPI,GFPX";
        RemoteUnmix job = new RemoteUnmix(stack("l", 4, 1, 1, 1), s, client());
        assertFalse(job.process(Progress.NONE));
        assertEquals(submitError, job.getErrorMessage());
        assertNull(job.getResult());
    }

    @Test
    void driftCorrectionTakesAPlainStackAsFramesAndReadsTheDriftTable() {
        ImagePlus server = stack("r", 1, 1, 3, 0);
        server.setProperty("Info", "fluorecon register\ndrift_axes = y,x\ndrift_px = [[0.0, 0.0], [0.5, -1.25], [1.0, -2.5]]\n");
        resultTiff = new FileSaver(server).serialize();
        RemoteDriftCorrection.Settings s = new RemoteDriftCorrection.Settings();
        s.reference = "mean";
        RemoteDriftCorrection job = new RemoteDriftCorrection(stack("movie.tif", 1, 3, 1, 1), s, client()).pollEvery(5);
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertEquals("{\"task\": \"register\", \"reference\": \"mean\", \"channel\": 1, \"upsample\": 20}", job.getSpecJson());
        assertTrue(job.process(Progress.NONE), job.getErrorMessage());
        assertTrue(submitted.contains("frames=3"), "the upload is a time series"); // ImageJ's TIFF header
        ImagePlus out = job.getResult();
        assertEquals("movie-aligned", out.getTitle());
        assertEquals(3, out.getNSlices()); // back to the user's layout
        assertArrayEquals(new double[] {1.0, -2.5}, job.getDrift()[2], 0);
        ResultsTable rt = job.driftTable();
        assertEquals(3, rt.size());
        assertEquals(-1.25, rt.getValue("dx_px", 1), 0);
        assertEquals(0.05, rt.getValue("dy_micron", 1), 1e-12);
    }

    @Test
    void driftCorrectionRefusesOneFrameAndAMissingChannelAndCancels() {
        RemoteDriftCorrection job = new RemoteDriftCorrection(stack("one", 2, 1, 1, 1),
                new RemoteDriftCorrection.Settings(), client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("has a single frame"), job.getErrorMessage());
        RemoteDriftCorrection.Settings s = new RemoteDriftCorrection.Settings();
        s.channel = 3;
        job = new RemoteDriftCorrection(stack("m", 2, 1, 4, 1), s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().startsWith("channel = 3 but the image has 2 channel(s)"), job.getErrorMessage());
        assertTrue(requests.isEmpty(), requests.toString());

        job = new RemoteDriftCorrection(stack("m", 2, 1, 4, 1), new RemoteDriftCorrection.Settings(), client())
                .pollEvery(5);
        assertFalse(job.process(cancelWhen(() -> polls.get() >= 1)));
        assertTrue(job.isCancelled() && job.getErrorMessage().startsWith("Drift correction was cancelled"));
        assertTrue(requests.contains("DELETE /v1/jobs/j1") && !requests.contains("GET /v1/jobs/j1/result"));
    }
}
