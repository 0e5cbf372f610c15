package org.fluorecon.tasks.sim;

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

/**
 * SimLearnedJob with the shipped 3-frame model (real ONNX Runtime) against the Python reconstruction
 * {@code fluorecon.tasks.sim.learned.predict_sim}, what {@code fluorecon sim learned} runs
 * (tests/vectors/sim_learned.json, scripts/make_vectors.py; tests/tasks/sim/test_sim_learned.py runs the
 * CLI on the same vector).
 */
class SimLearnedJobTest {

    @AfterAll
    static void release() {
        Predictor.clearCache();
    }

    private static Map<String, Object> vector() throws Exception {
        return JsonValues.obj(Vectors.json("sim_learned.json"));
    }

    private static ImagePlus open(Map<String, Object> v, String key) {
        return IJ.openImage(Vectors.dir().resolve((String) v.get(key)).toString());
    }

    private static SimLearnedJob job(ImagePlus input, Path model, int angles, int phases) {
        return new SimLearnedJob(input, model, "angle-phase-z", angles, phases, 0, 1, false, Predictor::open);
    }

    @Test
    void reproducesPythonWithHalvedPixelSize() throws Exception {
        Map<String, Object> v = vector();
        ImagePlus input = open(v, "input");
        ImagePlus expected = open(v, "expected");
        Path model = Vectors.file((String) v.get("model"));
        List<?> shape = (List<?>) v.get("expected_shape");
        assertEquals(18, input.getStackSize(), "2 z planes of 3 angles x 3 phases");
        assertEquals(((Number) v.get("input_pixel_size_um")).doubleValue(), input.getCalibration().pixelWidth, 1e-9);

        SimLearnedJob job = job(input, model, 3, 3);
        Progresses.Recorder p = new Progresses.Recorder();
        assertTrue(job.process(p), job.getErrorMessage());
        assertTrue(p.total > 0 && p.done == p.total, "progress reaches its total");
        ImagePlus out = job.getResult();
        // one slice per z plane, twice the width and height, half the pixel size
        assertEquals(((Number) shape.get(0)).intValue(), out.getStackSize());
        assertEquals(((Number) shape.get(1)).intValue(), out.getHeight());
        assertEquals(((Number) shape.get(2)).intValue(), out.getWidth());
        assertEquals(2 * input.getWidth(), out.getWidth());
        double half = ((Number) v.get("expected_pixel_size_um")).doubleValue();
        assertEquals(half, out.getCalibration().pixelWidth, 1e-9);
        assertEquals(half, out.getCalibration().pixelHeight, 1e-9);
        assertEquals(input.getCalibration().getUnit(), out.getCalibration().getUnit());

        double range = expected.getStatistics().max - expected.getStatistics().min;
        double tol = ((Number) v.get("tolerance")).doubleValue() * Math.max(range, 1);
        double maxDiff = 0;
        for (int z = 1; z <= out.getStackSize(); z++) {
            float[] e = (float[]) expected.getStack().getPixels(z);
            float[] g = (float[]) out.getStack().getPixels(z);
            assertEquals(e.length, g.length);
            for (int i = 0; i < e.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(e[i] - g[i]));
            }
        }
        assertTrue(maxDiff <= tol, "max abs diff to Python " + maxDiff + " exceeds " + tol);
        assertTrue(range > 1, "the reference is not flat: range " + range);
        String info = job.info();
        assertTrue(info.contains("sim.method = learned") && info.contains("sim.frames = 0,3,6")
                && info.contains("sim.z_planes = 2"), info);
    }

    @Test
    void reducedStackOfTheModelsFramesGivesTheSameResult() throws Exception {
        Map<String, Object> v = vector();
        ImagePlus input = open(v, "input");
        ImagePlus expected = open(v, "expected");
        // frames 0, 3, 6 of each z plane (angle-phase-z: slice = frame * 2 + z), in the card's order
        ij.ImageStack reduced = new ij.ImageStack(input.getWidth(), input.getHeight());
        for (int frame : new int[] {0, 3, 6}) {
            for (int z = 0; z < 2; z++) {
                reduced.addSlice(input.getStack().getProcessor(frame * 2 + z + 1).duplicate());
            }
        }
        ImagePlus small = new ImagePlus("reduced", reduced);
        small.setCalibration(input.getCalibration().copy());
        SimLearnedJob job = job(small, Vectors.file((String) v.get("model")), 3, 3);
        assertTrue(job.process(Progress.NONE), job.getErrorMessage());
        float[] e = (float[]) expected.getStack().getPixels(2);
        float[] g = (float[]) job.getResult().getStack().getPixels(2);
        for (int i = 0; i < e.length; i++) {
            assertEquals(e[i], g[i], 1e-3f, "pixel " + i);
        }
    }

    @Test
    void refusesOtherTasksOtherAcquisitionsAndBadStacks(@TempDir Path tmp) throws Exception {
        Map<String, Object> v = vector();
        ImagePlus input = open(v, "input");
        Path sim3 = Vectors.file((String) v.get("model"));

        Path denoise = OnnxModels.write(tmp.resolve("id.onnx"), OnnxModels.card(2, 2, 4, 16), 2, 1);
        SimLearnedJob j = job(input, denoise, 3, 3);
        assertFalse(j.checkInput());
        assertTrue(j.getErrorMessage().contains("SIM reconstruction needs a model with task=sim"), j.getErrorMessage());

        j = job(input, sim3, 3, 5);
        assertFalse(j.process(Progress.NONE));
        assertTrue(j.getErrorMessage().contains("made for 3 angles × 3 phases, but angles = 3, phases = 5"),
                j.getErrorMessage());
        assertNull(j.getResult());

        ImagePlus ten = new ImagePlus("ten", input.getStack().crop(0, 0, 0, input.getWidth(), input.getHeight(), 10));
        j = job(ten, sim3, 3, 3);
        assertFalse(j.checkInput());
        assertTrue(j.getErrorMessage().contains("10 images"), j.getErrorMessage());

        ImagePlus nan = input.duplicate();
        nan.getStack().getProcessor(1).setf(3, 4, Float.NaN);
        j = job(nan, sim3, 3, 3);
        assertFalse(j.process(Progress.NONE));
        assertTrue(j.getErrorMessage().contains("NaN or infinite pixels (z plane 1)"), j.getErrorMessage());

        j = new SimLearnedJob(input, null, "angle-phase-z", 3, 3, 0, 1, false, Predictor::open);
        assertFalse(j.checkInput());
        assertTrue(j.getErrorMessage().startsWith("No model chosen"), j.getErrorMessage());
    }
}
