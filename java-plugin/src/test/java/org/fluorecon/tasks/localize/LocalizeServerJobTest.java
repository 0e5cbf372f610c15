package org.fluorecon.tasks.localize;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.io.FileSaver;
import ij.process.FloatProcessor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.fluorecon.core.Progress;
import org.fluorecon.testutil.ScriptedServerTest;
import org.junit.jupiter.api.Test;

/** Localize (SMLM)… model=mle against a scripted server: the spec sent, the table unpacked, the rendering. */
class LocalizeServerJobTest extends ScriptedServerTest {
    private static ImagePlus stack(int frames, double pixelUm) {
        ImageStack st = new ImageStack(16, 12);
        for (int i = 0; i < frames; i++) {
            st.addSlice(new FloatProcessor(16, 12, new float[16 * 12]));
        }
        ImagePlus imp = new ImagePlus("smlm.tif", st);
        imp.setDimensions(1, 1, frames);
        if (pixelUm > 0) {
            imp.getCalibration().pixelWidth = pixelUm;
            imp.getCalibration().pixelHeight = pixelUm;
            imp.getCalibration().setUnit("micron");
        }
        return imp;
    }

    /** The server's answer: rows of (frame, x, y, z, photons, offset, bkgstd, sigma, uncertainty), packed. */
    private static ImagePlus packed(int count, double[]... rows) {
        LocalizationTable t = new LocalizationTable(LocalizeServerJob.COLUMNS, rows);
        ImagePlus out = t.pack("r");
        out.setProperty("Info", "fluorecon localize\nlocalizations = " + count + "\n");
        return out;
    }

    @Test
    void sendsTheCameraAndFitSettingsAndUnpacksTheTable() {
        double x = 812.3456789012; // more digits than float32: the (hi, lo) packing keeps them
        server.resultTiff = new FileSaver(packed(2,
                new double[] {1, x, 450, 0, 1200, 3.5, 1.9, 131, 9.5},
                new double[] {3, 100, 900, 0, 800, 4, 2, 128, 12})).serialize();
        LocalizeJob.Settings s = new LocalizeJob.Settings();
        s.cameraOffset = 100;
        s.gain = 0.1;
        s.emGain = 100;
        s.qe = 0.9;
        s.renderPixelNm = 20;
        LocalizeServerJob job = new LocalizeServerJob(stack(4, 0.1), s, server.client()).pollEvery(5);
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertEquals("{\"task\":\"localize\",\"method\":\"mle\",\"pixel_size_nm\":100.0,\"camera_offset\":100.0,"
                + "\"camera_gain\":0.1,\"qe\":0.9,\"read_noise_e\":1.5,\"sigma_nm\":130.0,\"em_gain\":100.0}",
                job.getSpecJson());
        assertTrue(job.process(Progress.NONE), job.getErrorMessage());
        Localizations t = job.getTable();
        assertEquals(2, t.size());
        assertEquals(0, t.frame(0));
        assertEquals(2, t.frame(1));
        assertEquals(x, t.get(Localizations.X, 0), 1e-9);
        assertEquals(1200, t.get(Localizations.INTENSITY, 0), 1e-9);
        assertEquals(12, t.get(Localizations.UNCERTAINTY, 1), 1e-9);
        ImagePlus r = job.getResult();
        assertEquals("smlm-localizations", r.getTitle());
        assertEquals(80, r.getWidth()); // 16 px × 100 nm / 20 nm
        assertEquals(60, r.getHeight());
        assertEquals(0.02, r.getCalibration().pixelWidth, 1e-12);
        double sum = 0;
        for (float v : (float[]) r.getProcessor().getPixels()) {
            sum += v;
        }
        assertEquals(2, sum, 0.05); // the rendering counts localisations per pixel
        String info = r.getInfoProperty();
        assertTrue(info.contains("model.method = mle") && info.contains("localizations = 2"), info);
    }

    @Test
    void noLocalisationsIsAnEmptyTableNotTheNanPlaceholderRow() {
        double[] nan = new double[9];
        Arrays.fill(nan, Double.NaN);
        server.resultTiff = new FileSaver(packed(0, nan)).serialize();
        LocalizeServerJob job = new LocalizeServerJob(stack(2, 0.1), new LocalizeJob.Settings(), server.client())
                .pollEvery(5);
        assertTrue(job.process(Progress.NONE), job.getErrorMessage());
        assertEquals(0, job.getTable().size());
    }

    @Test
    void refusesAnUncalibratedStackAndChannelsBeforeUpload() {
        LocalizeServerJob job = new LocalizeServerJob(stack(2, 0), new LocalizeJob.Settings(), server.client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("has no pixel size"), job.getErrorMessage());
        LocalizeJob.Settings s = new LocalizeJob.Settings();
        s.pixelNm = 107;
        LocalizeServerJob given = new LocalizeServerJob(stack(2, 0), s, server.client());
        assertTrue(given.checkInput(), given.getErrorMessage());
        assertTrue(given.getSpecJson().contains("\"pixel_size_nm\":107.0"), given.getSpecJson());
        ImagePlus two = stack(4, 0.1);
        two.setDimensions(2, 1, 2);
        LocalizeServerJob channels = new LocalizeServerJob(two, new LocalizeJob.Settings(), server.client());
        assertFalse(channels.checkInput());
        assertTrue(channels.getErrorMessage().contains("2 channels"), channels.getErrorMessage());
        assertFalse(server.requests.contains("POST /v1/jobs"));
    }
}
