package org.fluorecon.tasks.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.FloatProcessor;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.tasks.deconvolve.DeconvolveServerJob;
import org.fluorecon.testutil.ScriptedServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The calibration Multiview fusion and Deconvolve send: x in the image's unit, z in its z unit. */
class FuseServerJobTest {
    @TempDir
    Path tmp;

    /** Two views as channels of an 8-slice z-stack, 0.1 µm pixels and 300 nm steps. */
    private static ImagePlus views() {
        ImageStack st = new ImageStack(8, 8);
        for (int i = 0; i < 16; i++) {
            st.addSlice(new FloatProcessor(8, 8));
        }
        ImagePlus imp = new ImagePlus("views", st);
        imp.setDimensions(2, 8, 1);
        imp.getCalibration().setUnit("micron");
        imp.getCalibration().pixelWidth = 0.1;
        imp.getCalibration().pixelHeight = 0.1;
        imp.getCalibration().setZUnit("nm");
        imp.getCalibration().pixelDepth = 300;
        return imp;
    }

    private static ServerClient client() {
        return ScriptedServer.unreachable(); // never contacted: checks only
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> psf(String specJson) {
        return (Map<String, Object>) Json.parseObject(specJson).get("psf");
    }

    @Test
    void fusionSendsTheZStepInTheZUnit() {
        FuseServerJob job = new FuseServerJob(views(), new FuseServerJob.Settings(), client());
        assertTrue(job.checkInput(), job.getErrorMessage());
        Map<String, Object> psf = psf(job.getSpecJson());
        assertEquals(100.0, ((Number) psf.get("pixel_size_nm")).doubleValue(), 1e-9);
        assertEquals(300.0, ((Number) psf.get("z_step_nm")).doubleValue(), 1e-9);
    }

    @Test
    void deconvolutionSendsTheSameSampling() {
        DeconvolveServerJob job = new DeconvolveServerJob(views(), null, new DeconvolveServerJob.Settings(), client());
        assertTrue(job.checkInput(), job.getErrorMessage());
        Map<String, Object> psf = psf(job.getSpecJson());
        assertEquals(100.0, ((Number) psf.get("pixel_size_nm")).doubleValue(), 1e-9);
        assertEquals(300.0, ((Number) psf.get("z_step_nm")).doubleValue(), 1e-9);
    }
}
