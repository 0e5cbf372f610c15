package org.fluorecon.tasks.unmix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.FloatPolygon;
import ij.process.FloatProcessor;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.testutil.JsonValues;
import org.fluorecon.testutil.Vectors;
import org.junit.jupiter.api.Test;

/** Phasor G, S, plot and ROI mask against tests/vectors/phasor.json (fluorecon.tasks.unmix). */
class PhasorTest {
    private static float[] floats(Object list) {
        List<?> l = (List<?>) list;
        float[] out = new float[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = l.get(i) == null ? Float.NaN : ((Number) l.get(i)).floatValue();
        }
        return out;
    }

    private static float[][] channels(Map<String, Object> v) {
        List<?> shape = (List<?>) v.get("shape");
        int n = ((Number) shape.get(0)).intValue();
        float[] flat = floats(v.get("image"));
        int size = flat.length / n;
        float[][] ch = new float[n][size];
        for (int k = 0; k < n; k++) {
            System.arraycopy(flat, k * size, ch[k], 0, size);
        }
        return ch;
    }

    @Test
    void gsIntensityPlotAndMaskMatchPython() throws IOException {
        Map<String, Object> v = JsonValues.obj(Vectors.json("phasor.json"));
        double tol = ((Number) v.get("tolerance_gs")).doubleValue();
        float[][] ch = channels(v);
        for (Object o : (List<?>) v.get("cases")) {
            Map<String, Object> c = JsonValues.obj(o);
            int harmonic = ((Number) c.get("harmonic")).intValue();
            double offset = ((Number) c.get("offset")).doubleValue();
            double threshold = ((Number) c.get("threshold")).doubleValue();
            int bins = ((Number) c.get("bins")).intValue();
            Phasor.Result r = Phasor.compute(ch, harmonic, offset);
            float[] g = floats(c.get("g"));
            float[] s = floats(c.get("s"));
            float[] intensity = floats(c.get("intensity"));
            for (int i = 0; i < g.length; i++) {
                assertEquals(Float.isNaN(g[i]), Float.isNaN(r.g[i]), "NaN pattern at " + i);
                if (!Float.isNaN(g[i])) {
                    assertEquals(g[i], r.g[i], tol, "G at " + i);
                    assertEquals(s[i], r.s[i], tol, "S at " + i);
                }
                assertEquals(intensity[i], r.intensity[i], 1e-6 * Math.max(1, Math.abs(intensity[i])));
            }
            // From Python's own G, S the plot is the same to float precision, bin for bin.
            assertArrayEquals(floats(c.get("plot_log_circle")), Phasor.plot(g, s, intensity, threshold, bins, true, true),
                    1e-6f);
            assertArrayEquals(floats(c.get("plot_linear")), Phasor.plot(g, s, intensity, 0, bins, false, false), 0f);
            // ...and from Java's own G, S too (no pixel of this vector sits on a bin edge).
            assertArrayEquals(floats(c.get("plot_linear")), Phasor.plot(r.g, r.s, r.intensity, 0, bins, false, false),
                    0f);
            List<?> xy = (List<?>) c.get("polygon_xy");
            FloatPolygon polygon = new FloatPolygon();
            for (Object p : xy) {
                List<?> pt = (List<?>) p;
                polygon.addPoint(((Number) pt.get(0)).doubleValue(), ((Number) pt.get(1)).doubleValue());
            }
            double[][] gs = Phasor.toPhasorSpace(polygon, bins);
            boolean[] mask = Phasor.mask(r.g, r.s, r.intensity, threshold, gs[0], gs[1]);
            List<?> want = (List<?>) c.get("mask");
            int selected = 0;
            for (int i = 0; i < mask.length; i++) {
                assertEquals(((Number) want.get(i)).intValue() == 1, mask[i], "mask at " + i);
                selected += mask[i] ? 1 : 0;
            }
            assertTrue(selected > 0 && selected < mask.length);
        }
    }

    @Test
    void pureChannelLandsOnTheUnitCircle() {
        float[][] ch = new float[5][1];
        ch[2][0] = 7f;
        Phasor.Result r = Phasor.compute(ch, 1, 0);
        assertEquals(Math.cos(2 * Math.PI * 2 / 5), r.g[0], 1e-6);
        assertEquals(Math.sin(2 * Math.PI * 2 / 5), r.s[0], 1e-6);
        // the plot pixel of that phasor maps back to it within half a pixel
        int bins = 64;
        double x = Phasor.column(r.g[0], bins) + 0.5;
        assertEquals(r.g[0], Phasor.gOfX(x, bins), 1e-12);
    }

    @Test
    void hyperstackPlanesAndErrors() {
        ImageStack st = new ImageStack(3, 2);
        for (int i = 0; i < 3 * 2; i++) { // 3 channels, 2 frames
            float[] px = new float[6];
            java.util.Arrays.fill(px, i % 3 == 0 ? 10f : 0f);
            st.addSlice(new FloatProcessor(3, 2, px));
        }
        ImagePlus imp = new ImagePlus("lambda", st);
        imp.setDimensions(3, 1, 2);
        Phasor.Result r = Phasor.compute(imp, 1, 0);
        assertEquals(12, r.g.length);
        assertEquals(1.0, r.g[11], 1e-6);
        ImagePlus two = new ImagePlus("two", new FloatProcessor(3, 2));
        FluoreconException e = assertThrows(FluoreconException.class, () -> Phasor.compute(two, 1, 0));
        assertTrue(e.getMessage().contains("3 or more channels"), e.getMessage());
        assertThrows(FluoreconException.class, () -> Phasor.mask(new float[1], new float[1], null, 0,
                new double[] {0, 1}, new double[] {0, 1}));
    }
}
