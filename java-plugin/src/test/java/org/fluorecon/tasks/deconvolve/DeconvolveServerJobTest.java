package org.fluorecon.tasks.deconvolve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.io.FileSaver;
import ij.process.FloatProcessor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.fluorecon.core.Progress;
import org.fluorecon.testutil.ScriptedServerTest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The server path of Deconvolve… against a scripted server: spec, polling, result, PSF upload, cancel. */
class DeconvolveServerJobTest extends ScriptedServerTest {
    @BeforeEach
    void script() {
        server.runningPolls = 3;
        server.progress = n -> n * 0.25;
        server.doneMessage = null;
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
        ImagePlus answer = hyperstack(100);
        answer.setDimensions(1, 6, 1); // the server's TIFF may come back as a plain stack
        server.resultTiff = new FileSaver(answer).serialize();
        DeconvolveServerJob.Settings s = new DeconvolveServerJob.Settings();
        s.method = "rltv";
        s.iterations = 7;
        s.na = 1.2;
        DeconvolveServerJob job = new DeconvolveServerJob(imp, null, s, client()).pollEvery(5);
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertTrue(job.getSpecJson().contains("\"psf\":{\"na\":1.2,\"wavelength_nm\":520.0,\"ni\":1.515,"
                + "\"ns\":1.33,\"pixel_size_nm\":65.0}"), job.getSpecJson());
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
        assertTrue(server.submitted.contains("\"method\":\"rltv\"") && server.submitted.contains("\"num_iter\":7"),
                server.submitted);
        assertFalse(server.submitted.contains("name=\"psf\""), "a theoretical PSF travels in the spec");
        ImagePlus out = job.getResult();
        assertEquals("cells-deconvolved", out.getTitle());
        assertEquals(2, out.getNChannels());
        assertEquals(3, out.getNFrames());
        assertEquals(0.065, out.getCalibration().pixelWidth, 1e-12);
        assertEquals(5, out.getCalibration().frameInterval, 1e-12);
        assertEquals(105f, out.getStack().getProcessor(6).getf(0), 0f);
        assertTrue(shown.contains(0.5) && shown.get(shown.size() - 1) == 1.0, shown.toString());
        assertTrue(((String) out.getProperty("Info")).contains("server.version = 0.1.0"));
        assertEquals("DELETE /v1/jobs/j1", server.requests.get(server.requests.size() - 1)); // fetched job cleaned up
    }

    @Test
    void aMeasuredPsfTravelsAsTheSecondFile() {
        ImagePlus imp = hyperstack(1);
        server.resultTiff = new FileSaver(hyperstack(100)).serialize();
        ImagePlus bead = new ImagePlus("bead.tif", new FloatProcessor(5, 5));
        DeconvolveServerJob job = new DeconvolveServerJob(imp, bead, new DeconvolveServerJob.Settings(), client())
                .pollEvery(5);
        assertTrue(job.process(Progress.NONE), job.getErrorMessage());
        assertFalse(job.getSpecJson().contains("\"psf\""), job.getSpecJson()); // sampling travels in the TIFFs
        assertTrue(server.submitted.contains("name=\"image\"; filename=\"image.tif\""), "the image part");
        assertTrue(server.submitted.contains("name=\"psf\"; filename=\"psf.tif\""), "the PSF part");
        String info = (String) job.getResult().getProperty("Info");
        assertTrue(info.contains("deconvolve.psf = image 'bead.tif'") && info.contains("server.job = j1"), info);
    }

    @Test
    void cancellingDeletesTheJobAndLeavesNoResult() {
        DeconvolveServerJob job = new DeconvolveServerJob(hyperstack(1), null, new DeconvolveServerJob.Settings(),
                client()).pollEvery(5);
        boolean ok = job.process(new Progress() {
            @Override
            public void update(long done, long total) {
            }

            @Override
            public boolean isCancelled() {
                return server.polls.get() >= 2;
            }
        });
        assertFalse(ok);
        assertTrue(job.isCancelled());
        assertEquals("Deconvolution was cancelled; the server job j1 was stopped and no output was made.",
                job.getErrorMessage());
        assertNull(job.getResult());
        assertTrue(server.requests.contains("DELETE /v1/jobs/j1"));
        assertFalse(server.requests.contains("GET /v1/jobs/j1/result"));
    }

    @Test
    void uncalibratedImageAndBadSettingsAreRefusedBeforeUpload() {
        ImagePlus imp = new ImagePlus("raw", new FloatProcessor(8, 8));
        DeconvolveServerJob job = new DeconvolveServerJob(imp, null, new DeconvolveServerJob.Settings(), client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("has no pixel size"), job.getErrorMessage());
        DeconvolveServerJob.Settings s = new DeconvolveServerJob.Settings();
        s.method = "magic";
        job = new DeconvolveServerJob(hyperstack(1), null, s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().startsWith("method = 'magic' is not a server method"), job.getErrorMessage());
        s.method = "rl";
        s.na = 1.6;
        job = new DeconvolveServerJob(hyperstack(1), null, s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("below the immersion index"), job.getErrorMessage());
        assertTrue(server.requests.isEmpty(), server.requests.toString());
    }
}
