package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.fluorecon.testutil.JsonValues;
import org.fluorecon.testutil.OnnxModels;
import org.fluorecon.testutil.Vectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelCardTest {

    private static Map<String, String> strings(Object o) {
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : JsonValues.obj(o).entrySet()) {
            m.put(e.getKey(), (String) e.getValue());
        }
        return m;
    }

    @Test
    void sharedGoodCards() throws Exception {
        Map<String, Object> root = JsonValues.obj(Vectors.json("modelcard.json"));
        int n = 0;
        for (Object o : JsonValues.arr(root.get("good"))) {
            Map<String, Object> c = JsonValues.obj(o);
            ModelCard card = ModelCard.fromMetadata(strings(c.get("metadata")));
            Map<String, Object> e = JsonValues.obj(c.get("expected"));
            assertEquals(e.get("task"), card.task);
            assertEquals(e.get("method"), card.method);
            assertEquals(e.get("name"), card.name);
            assertEquals(((Number) e.get("ndim")).intValue(), card.ndim());
            assertEquals(e.get("axes_in"), card.axesIn);
            assertEquals(((Number) e.get("channels_in")).intValue(), card.channelsIn);
            assertEquals(((Number) e.get("channels_out")).intValue(), card.channelsOut);
            assertArrayEquals(JsonValues.ints(e.get("tile_multiple")), card.tileMultiple);
            assertArrayEquals(JsonValues.ints(e.get("tile_halo")), card.tileHalo);
            assertArrayEquals(JsonValues.ints(e.get("tile_default")), card.tileDefault);
            assertArrayEquals(JsonValues.ints(e.get("scale")), card.scale);
            assertEquals(((Number) e.get("norm_low")).doubleValue(), card.normLow(), 0);
            assertEquals(((Number) e.get("norm_high")).doubleValue(), card.normHigh(), 0);
            assertEquals(e.get("has_scale_output"), card.hasScaleOutput());
            n++;
        }
        assertTrue(n >= 2);
    }

    @Test
    void sharedBadCards() throws Exception {
        Map<String, Object> root = JsonValues.obj(Vectors.json("modelcard.json"));
        int n = 0;
        for (Object o : JsonValues.arr(root.get("bad"))) {
            Map<String, Object> c = JsonValues.obj(o);
            ModelCardException e = assertThrows(ModelCardException.class,
                    () -> ModelCard.fromMetadata(strings(c.get("metadata"))));
            String want = (String) c.get("error_contains");
            assertTrue(e.getMessage().contains(want), "'" + e.getMessage() + "' should contain '" + want + "'");
            n++;
        }
        assertTrue(n >= 3);
    }

    @Test
    void parsesPrefixedGroupsAndOptionalKeys() {
        Map<String, String> m = OnnxModels.card(3, 4, 8, 32);
        m.put("train.seed", "3");
        m.put("qc.mean", "0.5");
        ModelCard c = ModelCard.fromMetadata(m);
        assertEquals(3, c.ndim());
        assertEquals("12.5", c.metrics.get("val_psnr"));
        assertEquals("3", c.train.get("seed"));
        assertEquals("0.5", c.qc.get("mean"));
        assertEquals("BSD-3-Clause", c.license);
        assertArrayEquals(new String[] {"mean"}, c.outputKinds());
    }

    @Test
    void namesTheMissingOrBadKey() {
        for (String key : ModelCard.REQUIRED_KEYS) {
            Map<String, String> m = new HashMap<>(OnnxModels.card(2, 4, 8, 32));
            m.remove(key);
            ModelCardException e = assertThrows(ModelCardException.class, () -> ModelCard.fromMetadata(m));
            assertTrue(e.getMessage().contains(key), e.getMessage());
        }
        Map<String, String> m = OnnxModels.card(2, 4, 8, 32);
        m.put("axes.in", "byx");
        assertTrue(assertThrows(ModelCardException.class, () -> ModelCard.fromMetadata(m)).getMessage()
                .contains("bcyx"));
        Map<String, String> m2 = OnnxModels.card(2, 4, 8, 32);
        m2.put("norm", "zscore");
        assertTrue(assertThrows(ModelCardException.class, () -> ModelCard.fromMetadata(m2)).getMessage()
                .contains("norm"));
    }

    @Test
    void readsTheCardStraightFromTheOnnxFile(@TempDir Path tmp) throws Exception {
        Map<String, String> meta = OnnxModels.card(2, 4, 8, 32);
        Path f = OnnxModels.write(tmp.resolve("m.onnx"), meta, 2, 1);
        assertEquals(meta, OnnxMetadata.read(f));
        Path bad = tmp.resolve("bad.onnx");
        Files.write(bad, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 1, 2});
        ModelCardException e = assertThrows(ModelCardException.class, () -> OnnxMetadata.read(bad));
        assertTrue(e.getMessage().contains("not a readable ONNX model"), e.getMessage());
        assertThrows(ModelCardException.class, () -> OnnxMetadata.read(tmp.resolve("missing.onnx")));
    }

    @Test
    void readsTheSharedTinyModelsCard() {
        ModelCard c = ModelCard.fromMetadata(OnnxMetadata.read(Vectors.file("tiny_unet2d.onnx")));
        assertEquals("denoise", c.task);
        assertEquals(2, c.ndim());
    }

    @Test
    void photonNormOfSmlmModels() {
        java.util.Map<String, String> m = org.fluorecon.tasks.localize.LocalizeJobTest.card("deepstorm", 1, 1, 4);
        ModelCard c = ModelCard.fromMetadata(m);
        org.junit.jupiter.api.Assertions.assertTrue(c.isPhotonNorm());
        org.junit.jupiter.api.Assertions.assertEquals(100.0, c.photonScale(), 0);
        ModelCardException e = org.junit.jupiter.api.Assertions.assertThrows(ModelCardException.class, c::normLow);
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("fixed photon scale"), e.getMessage());
        m.put("norm", "photons:-1");
        org.junit.jupiter.api.Assertions.assertThrows(ModelCardException.class, () -> ModelCard.fromMetadata(m));
    }

    /** Imported bioimage.io models (CAREamics): fixed statistics, output back to input units, other maps refused. */
    @Test
    void fixedNormOfImportedModels() {
        Map<String, String> m = new HashMap<>(OnnxModels.card(2, 4, 8, 32));
        m.put("norm", "fixed:109.5:9.25");
        m.put("denorm", "linear:9.25:109.5");
        ModelCard c = ModelCard.fromMetadata(m);
        assertArrayEquals(new double[] {109.5, 118.75}, c.normRange(new float[][] {{0f, 1000f}}), 0);
        assertTrue(!c.isPhotonNorm());
        ModelCardException e = assertThrows(ModelCardException.class, c::normLow);
        assertTrue(e.getMessage().contains("fixed statistics"), e.getMessage());
        m.put("denorm", "linear:2.0:0.0");
        e = assertThrows(ModelCardException.class, () -> ModelCard.fromMetadata(m));
        assertTrue(e.getMessage().contains("run it with fluorecon predict"), e.getMessage());
        m.put("denorm", "input");
        m.put("norm", "fixed:1:0");
        e = assertThrows(ModelCardException.class, () -> ModelCard.fromMetadata(m));
        assertTrue(e.getMessage().contains("needs a positive STD"), e.getMessage());
    }

    /** A percentile-normalised card whose output is not mapped back to the input range would be mis-scaled. */
    @Test
    void otherOutputMappingsOfPercentileCardsAreRefused() {
        Map<String, String> m = new HashMap<>(OnnxModels.card(2, 4, 8, 32));
        for (String denorm : new String[] {"none", "linear:2.0:5.0"}) {
            m.put("denorm", denorm);
            ModelCardException e = assertThrows(ModelCardException.class, () -> ModelCard.fromMetadata(m));
            assertTrue(e.getMessage().contains("denorm = '" + denorm + "'")
                    && e.getMessage().contains("run this model with fluorecon predict"), e.getMessage());
        }
        m.put("denorm", "input");
        assertTrue(ModelCard.fromMetadata(m) != null);
    }
}
