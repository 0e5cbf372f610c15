package org.fluorecon.tasks.isotropic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.Progress;
import org.fluorecon.onnx.Predictor;
import org.fluorecon.testutil.JsonValues;
import org.fluorecon.testutil.OnnxModels;
import org.fluorecon.testutil.Progresses;
import org.fluorecon.testutil.Vectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** IsotropicJob against the Python reference (tests/vectors/isotropic.json, scripts/make_vectors.py). */
class IsotropicJobTest {

    @AfterAll
    static void release() {
        Predictor.clearCache();
    }

    @Test
    void stretchEqualsPython() throws Exception {
        Map<String, Object> v = JsonValues.obj(Vectors.json("isotropic.json"));
        List<?> in = (List<?>) v.get("stretch_input");
        List<?> expected = (List<?>) v.get("stretch_expected");
        float[][] planes = new float[in.size()][];
        for (int i = 0; i < planes.length; i++) {
            planes[i] = new float[] {((Number) in.get(i)).floatValue()};
        }
        float[][] out = IsotropicJob.stretch(planes, ((Number) v.get("z_factor")).intValue());
        assertEquals(expected.size(), out.length);
        for (int i = 0; i < out.length; i++) {
            assertEquals(((Number) expected.get(i)).floatValue(), out[i][0], 1e-4f, "z=" + i);
        }
    }

    /** Java restoration == fluorecon.tasks.isotropic.restore_isotropic, for the default and a small tile. */
    @Test
    void reproducesPythonRestoration() throws Exception {
        Map<String, Object> v = JsonValues.obj(Vectors.json("isotropic.json"));
        Path dir = Vectors.dir();
        ImagePlus input = IJ.openImage(dir.resolve((String) v.get("input")).toString());
        ImagePlus expected = IJ.openImage(dir.resolve((String) v.get("expected")).toString());
        int f = ((Number) v.get("z_factor")).intValue();
        assertEquals(input.getStackSize() * f, expected.getStackSize());
        double range = expected.getStatistics().max - expected.getStatistics().min;
        for (int tile : new int[] {0, 18}) { // 18: the smallest tile allowed (2 * halo 8 + multiple 2)
            IsotropicJob job = new IsotropicJob(input, dir.resolve((String) v.get("model")), tile, 1, false,
                    Predictor::open);
            Progresses.Recorder p = new Progresses.Recorder();
            assertTrue(job.process(p), job.getErrorMessage());
            assertEquals(p.total, p.done, "progress reaches its total");
            ImagePlus out = job.getResult();
            assertEquals(expected.getStackSize(), out.getStackSize());
            assertEquals(input.getWidth(), out.getWidth());
            double maxDiff = 0;
            for (int z = 1; z <= out.getStackSize(); z++) {
                float[] e = (float[]) expected.getStack().getPixels(z);
                float[] g = (float[]) out.getStack().getPixels(z);
                for (int i = 0; i < e.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(e[i] - g[i]));
                }
            }
            double tol = ((Number) v.get("tolerance")).doubleValue();
            assertTrue(maxDiff <= tol * Math.max(range, 1), "tile " + tile + ": max abs diff " + maxDiff
                    + " exceeds " + tol + " x range " + range);
            // isotropic calibration: z step = input z step / z_factor = pixel size here
            assertEquals(((Number) v.get("expected_z_step_um")).doubleValue(), out.getCalibration().pixelDepth, 1e-9);
            assertEquals(out.getCalibration().pixelWidth, out.getCalibration().pixelDepth, 1e-9);
            assertTrue(job.info().contains("model.z_factor = " + f));
        }
    }

    @Test
    void refusesOtherTasksSingleSlicesAndWrongSampling(@TempDir Path tmp) throws Exception {
        Path denoise = OnnxModels.write(tmp.resolve("id.onnx"), OnnxModels.card(2, 2, 4, 16), 2, 1);
        ImagePlus stack = IJ.createImage("s", "32-bit ramp", 16, 16, 4);
        IsotropicJob j = new IsotropicJob(stack, denoise, 0, 1, false, Predictor::open);
        assertFalse(j.checkInput());
        assertTrue(j.getErrorMessage().contains("needs a model with task=isotropic"), j.getErrorMessage());

        Map<String, String> card = OnnxModels.card(2, 2, 4, 16);
        card.put("task", "isotropic");
        card.put("train.z_factor", "3");
        Path iso = OnnxModels.write(tmp.resolve("iso.onnx"), card, 2, 1);
        ImagePlus plane = IJ.createImage("p", "32-bit ramp", 16, 16, 1);
        j = new IsotropicJob(plane, iso, 0, 1, false, Predictor::open);
        assertFalse(j.process(Progress.NONE));
        assertTrue(j.getErrorMessage().contains("single z-slice"), j.getErrorMessage());
        assertNull(j.getResult());

        stack.getCalibration().setUnit("µm");
        stack.getCalibration().pixelWidth = 0.1;
        stack.getCalibration().pixelHeight = 0.1;
        stack.getCalibration().pixelDepth = 0.1;
        j = new IsotropicJob(stack, iso, 0, 1, false, Predictor::open);
        assertFalse(j.checkInput());
        assertTrue(j.getErrorMessage().contains("z step is 1× its pixel size") && j.getErrorMessage()
                .contains("trained for 3×"), j.getErrorMessage());

        // identity network: the result is the stretched stack itself; Esc before the first tile cancels
        stack.getCalibration().pixelDepth = 0.3;
        j = new IsotropicJob(stack, iso, 0, 1, false, Predictor::open);
        assertTrue(j.process(Progress.NONE), j.getErrorMessage());
        float[][] planes = new float[4][];
        for (int z = 0; z < 4; z++) {
            planes[z] = (float[]) stack.getStack().getPixels(z + 1);
        }
        float[][] up = IsotropicJob.stretch(planes, 3);
        for (int z = 0; z < 12; z++) {
            float[] g = (float[]) j.getResult().getStack().getPixels(z + 1);
            for (int i = 0; i < g.length; i += 37) {
                assertEquals(up[z][i], g[i], 1e-3f * Math.max(1f, Math.abs(up[z][i])));
            }
        }
        assertEquals(0.1, j.getResult().getCalibration().pixelDepth, 1e-9);
        j = new IsotropicJob(stack, iso, 0, 1, false, Predictor::open);
        Progress cancel = Progresses.CANCELLED;
        assertFalse(j.process(cancel));
        assertTrue(j.isCancelled());
        assertNull(j.getResult());
    }
}
