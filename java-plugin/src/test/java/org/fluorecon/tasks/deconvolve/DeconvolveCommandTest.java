package org.fluorecon.tasks.deconvolve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.process.FloatProcessor;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.testutil.OnnxModels;
import org.fluorecon.testutil.ScriptedServerTest;
import org.junit.jupiter.api.Test;

/** Deconvolve… headless: the learned path runs locally; the server path fails with a clear message. */
class DeconvolveCommandTest extends ScriptedServerTest {

    private static ImagePlus image() {
        FloatProcessor fp = new FloatProcessor(40, 36);
        for (int i = 0; i < 40 * 36; i++) {
            fp.setf(i, (i * 37) % 101);
        }
        ImagePlus imp = new ImagePlus("cells", fp);
        imp.getCalibration().pixelWidth = 0.1;
        imp.getCalibration().setUnit("micron");
        return imp;
    }

    @Test
    void learnedRunsLocallyWithADeconvolutionModel() throws Exception {
        Map<String, String> card = OnnxModels.card(2, 4, 8, 32);
        card.put("task", "deconvolve");
        Path model = OnnxModels.write(tmp.resolve("deconv.onnx"), card, 2, 1);
        Path save = tmp.resolve("out.tif");
        Run<Deconvolve_> r = run(new Deconvolve_(), image(), "method=learned model=[file] model_file=" + model
                + " save=" + save);
        assertNull(r.error, () -> r.error.getMessage());
        ImagePlus out = r.command.getResult();
        assertNotNull(out);
        assertEquals("cells-deconvolved", out.getTitle());
        assertEquals(0.1, out.getCalibration().pixelWidth, 1e-12);
        assertTrue(((String) out.getProperty("Info")).contains("fluorecon.command = Deconvolve"));
        assertTrue(save.toFile().isFile());
        // the identity network gives the input back (normalize, run, de-normalize)
        assertEquals(image().getProcessor().getf(123), out.getProcessor().getf(123), 1e-3);
    }

    @Test
    void learnedRefusesADenoisingModel() throws Exception {
        Path model = OnnxModels.write(tmp.resolve("denoise.onnx"), OnnxModels.card(2, 4, 8, 32), 2, 1);
        Run<Deconvolve_> r = run(new Deconvolve_(), image(), "method=learned model_file=" + model);
        assertNotNull(r.error);
        assertTrue(r.error.getMessage().contains("Deconvolve needs a model with task=deconvolve"), r.error.getMessage());
    }

    @Test
    void theMacrosStopTravelsAndWhereRlStoppedIsInTheInfoAndTheLog() throws Exception {
        useAsPluginServer();
        String stopped = "stopped at iteration 6 of 20: the residual reached the noise level (discrepancy principle; "
                + "mean χ² per pixel 0.99 ≤ 1)";
        server.resultTiff = new ij.io.FileSaver(image()).serialize();
        server.doneMessage = "Done: " + stopped + ".";
        ij.IJ.log("\\Clear");
        Run<Deconvolve_> r = run(new Deconvolve_(), image(), "method=rl iterations=20 stop=discrepancy "
                + "psf=[theoretical] na=1.2");
        assertNull(r.error, () -> r.error.getMessage());
        assertTrue(server.submitted.contains("\"stop\":\"discrepancy\""), server.submitted);
        String info = (String) r.command.getResult().getProperty("Info");
        assertTrue(info.contains("deconvolve.stop = " + stopped + "\n"), info);
        String log = ij.IJ.getLog();
        assertTrue(log == null || log.contains("fluorecon Deconvolve: cells: " + stopped), log); // null: no Log window headless

        server.doneMessage = "Done.";
        Run<Deconvolve_> none = run(new Deconvolve_(), image(), "method=rl iterations=5 stop=none "
                + "psf=[theoretical] na=1.2");
        assertNull(none.error, () -> none.error.getMessage());
        assertTrue(server.submitted.contains("\"stop\":\"none\""), server.submitted);
        assertTrue(((String) none.command.getResult().getProperty("Info")).contains("deconvolve.stop = none\n"));

        Run<Deconvolve_> bad = run(new Deconvolve_(), image(), "method=rl stop=sometimes psf=[theoretical] na=1.2");
        assertNotNull(bad.error);
    }

    @Test
    void serverMethodsWithoutAServerSayHowToStartIt() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        useAsPluginServer("http://127.0.0.1:" + port);
        Run<Deconvolve_> r = run(new Deconvolve_(), image(), "method=rl iterations=3 psf=[theoretical] na=1.2");
        assertNotNull(r.error);
        assertTrue(r.error.getMessage().startsWith("The fluorecon server is not running at http://127.0.0.1:" + port),
                r.error.getMessage());
    }
}
