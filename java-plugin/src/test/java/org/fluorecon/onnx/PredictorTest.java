package org.fluorecon.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.core.Block;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.core.ModelCard;
import org.fluorecon.core.Normalizer;
import org.fluorecon.core.Progress;
import org.fluorecon.core.TiledInference;
import org.fluorecon.core.Tiling;
import org.fluorecon.testutil.JsonValues;
import org.fluorecon.testutil.OnnxModels;
import org.fluorecon.testutil.Vectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PredictorTest {

    @AfterAll
    static void release() {
        Predictor.clearCache();
    }

    @Test
    void reproducesPython2D() throws Exception {
        checkVector("predict2d.json");
    }

    @Test
    void reproducesPython3D() throws Exception {
        checkVector("predict3d.json");
    }

    /** The Python tiled and whole-image predictions, reproduced by Java tiled and whole-image runs. */
    private static void checkVector(String name) throws Exception {
        Map<String, Object> v = JsonValues.obj(Vectors.json(name));
        Path dir = Vectors.dir();
        Predictor p = Predictor.open(dir.resolve((String) v.get("model")), ((Number) v.get("threads")).intValue(),
                false);
        assertEquals(Predictor.CPU, p.provider());
        assertEquals("input", p.inputName());
        ModelCard card = p.card();
        ImagePlus input = IJ.openImage(dir.resolve((String) v.get("input")).toString());
        int nd = card.ndim();
        Block in = ImageConversion.block(input, 0, nd == 3 ? -1 : 0, 0);
        double[] r = Normalizer.percentileRange(in.data[0], card.normLow(), card.normHigh());
        assertEquals(((Number) v.get("norm_lo")).doubleValue(), r[0], 1e-9);
        assertEquals(((Number) v.get("norm_hi")).doubleValue(), r[1], 1e-9);
        int[] shape = in.spatialShape(nd);
        double tol = ((Number) v.get("tolerance")).doubleValue();
        for (String key : new String[] {"whole", "tiled"}) {
            int[] tile = key.equals("whole") ? new int[] {1_000_000} : JsonValues.ints(v.get("tile"));
            Tiling.Plan plan = Tiling.plan(shape, tile, card.tileHalo, card.tileMultiple, card.scale);
            Block out = TiledInference.predict(p, in, plan, new double[] {r[0]}, new double[] {r[1]},
                    card.outputKinds(), card.channelsOut, Progress.NONE);
            ImagePlus expected = IJ.openImage(dir.resolve((String) v.get(key)).toString());
            Block exp = ImageConversion.block(expected, 0, nd == 3 ? -1 : 0, 0);
            double range = expected.getStatistics().max - expected.getStatistics().min;
            double maxDiff = 0;
            for (int z = 0; z < exp.depth; z++) {
                float[] e = exp.data[0][z];
                float[] g = out.data[0][z];
                for (int i = 0; i < e.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(e[i] - g[i]));
                }
            }
            // DESIGN.md: max abs diff <= tolerance of the output range
            assertTrue(maxDiff <= tol * Math.max(range, 1), name + " " + key + ": max abs diff " + maxDiff
                    + " exceeds " + tol + " x range " + range);
        }
    }

    @Test
    void identityModelRunsOnOnnxRuntime(@TempDir Path tmp) throws Exception {
        Path f = OnnxModels.write(tmp.resolve("id.onnx"), OnnxModels.card(2, 4, 8, 32), 2, 1);
        Predictor p = Predictor.open(f, 1, false);
        float[] x = {1, 2, 3, 4, 5, 6};
        FloatBuffer in = java.nio.ByteBuffer.allocateDirect(24).order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
        in.put(x).flip();
        FloatBuffer out = p.run(in, new long[] {1, 1, 2, 3});
        float[] y = new float[out.remaining()];
        out.get(y);
        org.junit.jupiter.api.Assertions.assertArrayEquals(x, y, 0f);
        assertEquals(64, p.sha256().length());
        assertArrayEquals2(new int[] {0, 0}, p.fixedTile());
    }

    private static void assertArrayEquals2(int[] a, int[] b) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(a, b);
    }

    @Test
    void sessionsAreCachedByPathAndSettings(@TempDir Path tmp) throws Exception {
        Path f = OnnxModels.write(tmp.resolve("id.onnx"), OnnxModels.card(2, 4, 8, 32), 2, 1);
        Predictor a = Predictor.open(f, 1, false);
        assertSame(a, Predictor.open(tmp.resolve(".").resolve("id.onnx"), 1, false));
        assertNotSame(a, Predictor.open(f, 2, false));
    }

    @Test
    void gpuRequestReportsTheProviderThatActuallyRuns(@TempDir Path tmp) throws Exception {
        Path f = OnnxModels.write(tmp.resolve("id.onnx"), OnnxModels.card(2, 4, 8, 32), 2, 1);
        Predictor p = Predictor.open(f, 1, true);
        boolean cuda = ai.onnxruntime.OrtEnvironment.getAvailableProviders()
                .contains(ai.onnxruntime.OrtProvider.CUDA);
        if (!cuda) {
            assertEquals(Predictor.CPU, p.provider());
            assertTrue(p.providerNote().contains("CUDA requested"), p.providerNote());
        }
        assertFalse(Predictor.open(f, 1, false).providerNote().contains("CUDA"));
    }

    @Test
    void missingAndCorruptModelsGetClearMessages(@TempDir Path tmp) throws Exception {
        FluoreconException e = assertThrows(FluoreconException.class,
                () -> Predictor.open(tmp.resolve("nope.onnx"), 1, false));
        assertTrue(e.getMessage().startsWith("Model file not found"), e.getMessage());
        Path bad = Files.write(tmp.resolve("bad.onnx"), "this is not a model".getBytes());
        e = assertThrows(FluoreconException.class, () -> Predictor.open(bad, 1, false));
        assertTrue(e.getMessage().contains("not a readable ONNX model"), e.getMessage());
        Map<String, String> noCard = OnnxModels.card(2, 4, 8, 32);
        noCard.remove("fluorecon.format");
        Path plain = OnnxModels.write(tmp.resolve("plain.onnx"), noCard, 2, 1);
        e = assertThrows(FluoreconException.class, () -> Predictor.open(plain, 1, false));
        assertTrue(e.getMessage().contains("fluorecon.format"), e.getMessage());
    }
}
