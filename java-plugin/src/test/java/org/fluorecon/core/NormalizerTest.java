package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.fluorecon.testutil.JsonValues;
import org.fluorecon.testutil.Vectors;
import org.junit.jupiter.api.Test;

class NormalizerTest {

    @Test
    void sharedNormalizeVectors() throws Exception {
        Map<String, Object> root = JsonValues.obj(Vectors.json("normalize.json"));
        int n = 0;
        boolean sawSubsampled = false;
        for (Object o : JsonValues.arr(root.get("cases"))) {
            Map<String, Object> c = JsonValues.obj(o);
            float[] values;
            if (c.containsKey("values")) {
                values = JsonValues.floats(c.get("values"));
            } else {
                Map<String, Object> g = JsonValues.obj(c.get("generator"));
                assertEquals("mod", g.get("kind"));
                int len = ((Number) g.get("n")).intValue();
                long a = ((Number) g.get("a")).longValue();
                long m = ((Number) g.get("m")).longValue();
                values = new float[len];
                for (int i = 0; i < len; i++) {
                    values[i] = (float) ((i * a) % m);
                }
                sawSubsampled |= len > Normalizer.MAX_SAMPLES;
            }
            double low = ((Number) c.get("low")).doubleValue();
            double high = ((Number) c.get("high")).doubleValue();
            double[] got = Normalizer.percentileRange(values, low, high);
            double lo = ((Number) c.get("expected_lo")).doubleValue();
            double hi = ((Number) c.get("expected_hi")).doubleValue();
            double tol = 1e-9 * Math.max(1, Math.abs(hi));
            assertEquals(lo, got[0], tol, "low percentile, case " + n);
            assertEquals(hi, got[1], tol, "high percentile, case " + n);
            n++;
        }
        assertTrue(n >= 3);
        assertTrue(sawSubsampled, "vectors should exercise the subsampling rule");
    }

    @Test
    void linearInterpolationLikeNumpy() {
        // np.percentile(np.arange(11.), [1, 99.8]) == [0.1, 9.98]
        float[] v = new float[11];
        for (int i = 0; i < v.length; i++) {
            v[10 - i] = i; // unsorted input
        }
        double[] r = Normalizer.percentileRange(v, 1, 99.8);
        assertEquals(0.1, r[0], 1e-12);
        assertEquals(9.98, r[1], 1e-12);
        assertArrayEquals(new double[] {0, 10}, Normalizer.percentileRange(v, 0, 100), 0);
    }

    @Test
    void selectionAgreesWithSorting() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 50; trial++) {
            int n = 1 + rnd.nextInt(3000);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = trial % 3 == 0 ? rnd.nextInt(5) : (float) rnd.nextGaussian(); // with many ties
            }
            float[] sorted = v.clone();
            Arrays.sort(sorted);
            double low = rnd.nextDouble() * 50;
            double high = 50 + rnd.nextDouble() * 50;
            double[] got = Normalizer.percentileRange(v, low, high);
            assertEquals(sortedPercentile(sorted, low), got[0], 1e-6, "trial " + trial);
            assertEquals(sortedPercentile(sorted, high), got[1], 1e-6, "trial " + trial);
        }
    }

    private static double sortedPercentile(float[] s, double p) {
        double r = p / 100 * (s.length - 1);
        int k = (int) Math.floor(r);
        if (k >= s.length - 1) {
            return s[s.length - 1];
        }
        return s[k] + (r - k) * (s[k + 1] - s[k]);
    }

    @Test
    void subsamplesEveryKthValueInCOrderAcrossPlanes() {
        int n = Normalizer.MAX_SAMPLES + 10; // k = 2
        assertEquals(2, Normalizer.step(n));
        float[] a = new float[n / 2 + 1];
        float[] b = new float[n - a.length];
        for (int i = 0; i < a.length; i++) {
            a[i] = i;
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = a.length + i;
        }
        float[] s = Normalizer.sample(new float[][] {a, b});
        assertEquals((n + 1) / 2, s.length);
        for (int i = 0; i < s.length; i++) {
            assertEquals(2f * i, s[i], 0f);
        }
    }

    @Test
    void parsesNormAndRejectsBadOnes() {
        assertArrayEquals(new double[] {1, 99.8}, Normalizer.parseNorm("percentile:1:99.8"), 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Normalizer.parseNorm("minmax"));
        assertTrue(e.getMessage().contains("percentile:LOW:HIGH"));
        assertThrows(IllegalArgumentException.class, () -> Normalizer.parseNorm("percentile:50:10"));
    }

    @Test
    void constantImageUsesEps() {
        double[] r = Normalizer.percentileRange(new float[] {3, 3, 3}, 1, 99.8);
        assertEquals(3, r[0], 0);
        assertEquals(Normalizer.EPS, Normalizer.range(r[0], r[1]), 0);
    }
}
