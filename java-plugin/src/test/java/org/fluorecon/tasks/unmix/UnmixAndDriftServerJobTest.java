package org.fluorecon.tasks.unmix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.io.FileSaver;
import ij.measure.ResultsTable;
import ij.process.FloatProcessor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.fluorecon.core.Progress;
import org.fluorecon.tasks.register.DriftCorrectionServerJob;
import org.fluorecon.testutil.ScriptedServerTest;
import org.junit.jupiter.api.Test;

/** Unmix… and Correct drift… against a scripted server: the spec sent, the result's shape, errors. */
class UnmixAndDriftServerJobTest extends ScriptedServerTest {
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
        ImagePlus answer = stack("r", 1, 1, 2 * (2 + 4), 0); // 2 frames × (2 labels + 4 residual channels)
        answer.setProperty("Info", "fluorecon unmix\nchannels = DAPI,EGFP,residual1,residual2,residual3,residual4\n");
        server.resultTiff = new FileSaver(answer).serialize();
        UnmixServerJob.Settings s = new UnmixServerJob.Settings();
        s.spectra = " DAPI, EGFP ,";
        s.residual = true;
        s.offset = 100;
        UnmixServerJob job = new UnmixServerJob(stack("lambda.tif", 4, 1, 2, 1), s, client()).pollEvery(5);
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertEquals("{\"task\":\"unmix\",\"method\":\"nnls\",\"spectra\":[\"DAPI\",\"EGFP\"],"
                + "\"lambda_start_nm\":430.0,\"lambda_stop_nm\":710.0,\"offset\":100.0,\"residual\":true}",
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
        assertEquals("DELETE /v1/jobs/j1", server.requests.get(server.requests.size() - 1));
    }

    @Test
    void unmixBlindLabelsMeanNmfAndBadInputIsRefusedBeforeUpload() {
        UnmixServerJob.Settings s = new UnmixServerJob.Settings();
        s.labels = 3;
        UnmixServerJob job = new UnmixServerJob(stack("l", 4, 1, 1, 1), s, client());
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertTrue(job.getSpecJson().contains("\"method\":\"nmf\",\"blind\":3"), job.getSpecJson());
        assertFalse(job.getSpecJson().contains("spectra"), job.getSpecJson());

        job = new UnmixServerJob(stack("grey", 1, 5, 1, 1), new UnmixServerJob.Settings(), client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("has 1 channel; unmixing needs a multichannel"), job.getErrorMessage());
        s = new UnmixServerJob.Settings();
        s.spectra = "DAPI,EGFP,mCherry";
        job = new UnmixServerJob(stack("two", 2, 1, 1, 1), s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().startsWith("3 spectra cannot be unmixed from 2 channels"), job.getErrorMessage());
        s.method = "magic";
        job = new UnmixServerJob(stack("l", 4, 1, 1, 1), s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().startsWith("method = 'magic' is not an unmixing method"), job.getErrorMessage());
        assertTrue(server.requests.isEmpty(), server.requests.toString());
    }

    @Test
    void theServersRefusalIsTheMessage() {
        server.submitError = "Unknown spectrum 'GFPX'; built-in spectra are DAPI, Hoechst, EGFP.";
        UnmixServerJob.Settings s = new UnmixServerJob.Settings();
        s.spectra = "DAPI,GFPX";
        UnmixServerJob job = new UnmixServerJob(stack("l", 4, 1, 1, 1), s, client());
        assertFalse(job.process(Progress.NONE));
        assertEquals(server.submitError, job.getErrorMessage());
        assertNull(job.getResult());
    }

    @Test
    void driftCorrectionTakesAPlainStackAsFramesAndReadsTheDriftTable() {
        ImagePlus answer = stack("r", 1, 1, 3, 0);
        answer.setProperty("Info", "fluorecon register\ndrift_axes = y,x\ndrift_px = [[0.0, 0.0], [0.5, -1.25], [1.0, -2.5]]\n");
        server.resultTiff = new FileSaver(answer).serialize();
        DriftCorrectionServerJob.Settings s = new DriftCorrectionServerJob.Settings();
        s.reference = "mean";
        DriftCorrectionServerJob job = new DriftCorrectionServerJob(stack("movie.tif", 1, 3, 1, 1), s, client()).pollEvery(5);
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertEquals("{\"task\":\"register\",\"reference\":\"mean\",\"channel\":1,\"upsample\":20}", job.getSpecJson());
        assertTrue(job.process(Progress.NONE), job.getErrorMessage());
        assertTrue(server.submitted.contains("frames=3"), "the upload is a time series"); // ImageJ's TIFF header
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
        DriftCorrectionServerJob job = new DriftCorrectionServerJob(stack("one", 2, 1, 1, 1),
                new DriftCorrectionServerJob.Settings(), client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("has a single frame"), job.getErrorMessage());
        DriftCorrectionServerJob.Settings s = new DriftCorrectionServerJob.Settings();
        s.channel = 3;
        job = new DriftCorrectionServerJob(stack("m", 2, 1, 4, 1), s, client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().startsWith("channel = 3 but the image has 2 channel(s)"), job.getErrorMessage());
        assertTrue(server.requests.isEmpty(), server.requests.toString());

        job = new DriftCorrectionServerJob(stack("m", 2, 1, 4, 1), new DriftCorrectionServerJob.Settings(), client())
                .pollEvery(5);
        assertFalse(job.process(cancelWhen(() -> server.polls.get() >= 1)));
        assertTrue(job.isCancelled() && job.getErrorMessage().startsWith("Drift correction was cancelled"));
        assertTrue(server.requests.contains("DELETE /v1/jobs/j1") && !server.requests.contains("GET /v1/jobs/j1/result"));
    }
}
