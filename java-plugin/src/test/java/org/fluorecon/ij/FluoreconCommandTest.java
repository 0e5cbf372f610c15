package org.fluorecon.ij;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.io.FileSaver;
import ij.process.FloatProcessor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.fluorecon.server.ServerConfig;
import org.fluorecon.tasks.unmix.Unmix_;
import org.fluorecon.testutil.ScriptedServerTest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What every server-backed command shares (FluoreconCommand), through Unmix… headless against a scripted server. */
class FluoreconCommandTest extends ScriptedServerTest {
    @BeforeEach
    void script() throws IOException {
        useAsPluginServer();
    }

    /** 4 spectral channels of 12x10 px, 0.1 µm pixels. */
    private static ImagePlus lambdaStack() {
        ImageStack st = new ImageStack(12, 10);
        for (int c = 0; c < 4; c++) {
            float[] px = new float[120];
            java.util.Arrays.fill(px, 10 + c);
            st.addSlice(new FloatProcessor(12, 10, px));
        }
        ImagePlus imp = new ImagePlus("lambda.tif", st);
        imp.setDimensions(4, 1, 1);
        imp.setOpenAsHyperStack(true);
        imp.getCalibration().pixelWidth = 0.1;
        imp.getCalibration().setUnit("micron");
        return imp;
    }

    @Test
    void aRunKeepsResultJobAndProgressAndARefusedRunForgetsThem() throws Exception {
        ImageStack answer = new ImageStack(12, 10);
        answer.addSlice(new FloatProcessor(12, 10));
        answer.addSlice(new FloatProcessor(12, 10));
        ImagePlus fromServer = new ImagePlus("r", answer);
        fromServer.setProperty("Info", "channels = DAPI,EGFP\n");
        server.resultTiff = new FileSaver(fromServer).serialize();
        Path save = tmp.resolve("unmixed.tif");
        Unmix_ command = new Unmix_();
        command.setImage(lambdaStack());
        Run<Unmix_> r = run(command, null, "method=nnls spectra=[DAPI,EGFP] offset=0 save=" + save);
        assertNull(r.error, () -> r.error.getMessage());
        ImagePlus out = command.getResult();
        assertNotNull(out);
        assertEquals("lambda-unmixed", out.getTitle());
        assertEquals("EGFP", out.getStack().getSliceLabel(2));
        assertTrue(Files.isRegularFile(save));
        assertEquals("j1", command.getJobId());
        double[] shown = command.getProgressShown();
        assertEquals(1.0, shown[shown.length - 1], 0);
        assertTrue(server.submitted.contains("\"spectra\":[\"DAPI\",\"EGFP\"]"), server.submitted);

        // refused before upload: the message is the error, and nothing of the last run is left
        int requests = server.requests.size();
        Run<Unmix_> refused = run(command, null, "method=nnls spectra=[DAPI,EGFP,mCherry,Cy5,Alexa488] offset=0");
        assertNotNull(refused.error);
        assertTrue(refused.error.getMessage().startsWith("5 spectra cannot be unmixed from 4 channels"),
                refused.error.getMessage());
        assertNull(command.getResult());
        assertNull(command.getJobId());
        assertArrayEquals(new double[0], command.getProgressShown());
        assertEquals(requests, server.requests.size());
    }

    @Test
    void theServersRefusalIsTheCommandsError() throws Exception {
        server.submitError = "Unknown spectrum 'GFPX'; built-in spectra are DAPI, Hoechst, EGFP.";
        Unmix_ command = new Unmix_();
        command.setImage(lambdaStack());
        Run<Unmix_> r = run(command, null, "method=nnls spectra=[DAPI,GFPX] offset=0");
        assertNotNull(r.error);
        assertEquals(server.submitError, r.error.getMessage());
        assertNull(command.getResult());
    }
}
