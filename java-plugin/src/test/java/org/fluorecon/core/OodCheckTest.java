package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.io.Opener;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.fluorecon.testutil.JsonValues;
import org.fluorecon.testutil.Vectors;
import org.junit.jupiter.api.Test;

/**
 * The Java OOD check against Python's figures on the shared vectors (tests/vectors/ood.json, written by
 * scripts/make_ood_vectors.py; tests/qc/test_ood_vectors.py holds Python to the same file): every
 * feature within {@link #FEATURE_TOL} (absolute, on features of order 0.01–10), the noise model and the
 * distance within 1e-4 relative, and the same verdict and warning text.
 */
class OodCheckTest {
    /** Sums in another order than NumPy's (pairwise, float32 means), FFTs by another algorithm: seen ≤ 1e-7 apart. */
    static final double FEATURE_TOL = 1e-6;

    private static float[][] planes(String file) {
        ImagePlus imp = new Opener().openImage(Vectors.file(file).toString());
        assertNotNull(imp, file);
        float[][] out = new float[imp.getStackSize()][];
        for (int s = 0; s < out.length; s++) {
            out[s] = (float[]) imp.getStack().getProcessor(s + 1).convertToFloat().getPixels();
        }
        return out;
    }

    private static Map<String, String> strings(Object o) {
        Map<String, String> out = new LinkedHashMap<>();
        JsonValues.obj(o).forEach((k, v) -> out.put(k, (String) v));
        return out;
    }

    @Test
    void featuresDistancesAndVerdictsMatchPython() throws Exception {
        List<Object> cases = JsonValues.arr(JsonValues.obj(Vectors.json("ood.json")).get("cases"));
        int flagged = 0;
        for (Object o : cases) {
            Map<String, Object> c = JsonValues.obj(o);
            String name = (String) c.get("name");
            int[] shape = JsonValues.ints(c.get("shape"));
            int w = shape[shape.length - 1];
            float[][] planes = planes((String) c.get("image"));
            assertEquals(shape.length == 2 ? 1 : shape[0], planes.length, name);
            String norm = (String) c.get("norm");
            Map<String, String> qc = strings(c.get("qc"));

            Map<String, Double> feats = OodCheck.features(planes, w, norm);
            Map<String, Object> expected = JsonValues.obj(c.get("features"));
            assertEquals(expected.keySet(), feats.keySet(), name + ": the same 25 features in the same order");
            for (Map.Entry<String, Object> e : expected.entrySet()) {
                double want = ((Number) e.getValue()).doubleValue();
                assertEquals(want, feats.get(e.getKey()), FEATURE_TOL, name + " " + e.getKey());
            }
            float[][] sub = planes.length > OodCheck.MAX_PLANES ? subsample(planes) : planes;
            NoiseEstimate noise = NoiseEstimate.of(sub, w);
            Map<String, Object> n = JsonValues.obj(c.get("noise"));
            double a = ((Number) n.get("a")).doubleValue();
            double b = ((Number) n.get("b")).doubleValue();
            assertEquals(a, noise.a, 1e-6 * Math.max(1, Math.abs(a)), name + " noise a");
            assertEquals(b, noise.b, 1e-6 * Math.max(1, Math.abs(b)), name + " noise b");

            Object px = c.get("pixel_size_nm");
            OodCheck.Result r = OodCheck.check(planes, w, qc, norm, px == null ? Double.NaN : ((Number) px).doubleValue());
            Map<String, Object> scores = JsonValues.obj(c.get("scores"));
            for (String key : new String[] {"distance", "threshold", "quantile_shift", "noise_ratio", "pixel_size_ratio"}) {
                if (scores.containsKey(key)) {
                    double want = ((Number) scores.get(key)).doubleValue();
                    double got = key.equals("distance") || key.equals("threshold") ? (key.equals("distance")
                            ? r.distance : r.threshold) : r.scores.get(key);
                    assertEquals(want, got, 1e-4 * Math.max(1, Math.abs(want)), name + " " + key);
                }
            }
            assertEquals(c.get("in_distribution"), r.inDistribution(), name + " verdict");
            assertEquals(JsonValues.arr(c.get("warnings")), r.warnings, name + " warnings");
            flagged += r.inDistribution() ? 0 : 1;
        }
        assertTrue(cases.size() >= 6 && flagged >= 4, cases.size() + " cases, " + flagged + " flagged");
    }

    private static float[][] subsample(float[][] planes) {
        float[][] out = new float[OodCheck.MAX_PLANES][];
        for (int i = 0; i < out.length; i++) {
            out[i] = planes[(int) Math.rint(i * (planes.length - 1) / (double) (OodCheck.MAX_PLANES - 1))];
        }
        return out;
    }

    @Test
    void aCardWithoutStatisticsIsNotCheckedAndSaysSo() {
        float[][] plane = {new float[64 * 64]};
        OodCheck.Result r = OodCheck.check(plane, 64, Map.of(), "percentile:1:99.8", Double.NaN);
        assertFalse(r.checked);
        assertTrue(r.warnings.get(0).startsWith("The model card has no training statistics"), r.warnings.toString());
    }

    @Test
    void pythonNumberFormatting() {
        assertEquals("43.1", OodCheck.g(43.1, 4));
        assertEquals("3.587e+04", OodCheck.g(35871.2, 4));
        assertEquals("5.8", OodCheck.g(5.841, 2));
        assertEquals("0.01", OodCheck.fmtG(0.01));
        assertEquals("1e-05", OodCheck.g(0.00001, 6));
    }

    @Test
    void fftMatchesTheDirectSumForAnyLength() {
        for (int n : new int[] {1, 2, 7, 16, 37, 50}) {
            double[] re = new double[n];
            double[] im = new double[n];
            for (int i = 0; i < n; i++) {
                re[i] = Math.sin(0.7 * i) + 0.1 * i;
            }
            double[] x = re.clone();
            Fft.transform(re, im);
            for (int k = 0; k < n; k++) {
                double sr = 0;
                double si = 0;
                for (int j = 0; j < n; j++) {
                    sr += x[j] * Math.cos(-2 * Math.PI * j * k / n);
                    si += x[j] * Math.sin(-2 * Math.PI * j * k / n);
                }
                assertEquals(sr, re[k], 1e-9 * n, "n=" + n + " k=" + k);
                assertEquals(si, im[k], 1e-9 * n, "n=" + n + " k=" + k);
            }
        }
    }

    private static OodCheck.Result result(double distance, double threshold, String warning) {
        OodCheck.Result r = new OodCheck.Result();
        r.distance = distance;
        r.threshold = threshold;
        r.z.put("log10_range", distance > threshold ? 12.5 : 0.4);
        if (warning != null) {
            r.warnings.add(warning);
        }
        return r;
    }

    @Test
    void reportFlagsTheTitleOnceAndOffersNoise2Void() {
        OodReport report = new OodReport();
        report.add(OodReport.label(new int[] {1, 1, 2}, 0, 0, 0), result(2.0, 5.0, null));
        report.add(OodReport.label(new int[] {1, 1, 2}, 0, 0, 1), result(40.0, 5.0, "Intensity scale differs."));
        ImagePlus out = new ImagePlus("x-denoised", new ij.process.FloatProcessor(4, 4));
        out.setProperty("Info", "fluorecon.command = Denoise");
        report.mark(out);
        report.mark(out); // a second mark does not flag twice
        assertEquals("x-denoised" + OodReport.FLAG, out.getTitle());
        String info = (String) out.getProperty("Info");
        assertTrue(info.startsWith("fluorecon.command = Denoise\nfluorecon.qc.ood = out of distribution: 1 of 2 inputs "
                + "checked (largest distance 40.00 > threshold 5; features out: log10_range +12.5 SD)\n"), info);
        assertTrue(info.contains("fluorecon.qc.ood.warning = frame 2: Intensity scale differs.\n"), info);
        List<String> log = report.logLines();
        assertEquals("  frame 2: Intensity scale differs.", log.get(1));
        assertEquals(OodReport.WAY_FORWARD, log.get(log.size() - 1));
        assertTrue(OodReport.WAY_FORWARD.contains(OodReport.TRAIN_MACRO));
    }

    @Test
    void inDistributionGetsInfoButNoFlagAndNoLog() {
        OodReport report = new OodReport();
        report.add("image", result(2.0, 5.84, null));
        ImagePlus out = new ImagePlus("x-denoised", new ij.process.FloatProcessor(4, 4));
        report.mark(out);
        assertEquals("x-denoised", out.getTitle());
        assertTrue(((String) out.getProperty("Info")).startsWith("fluorecon.qc.ood = in distribution: 1 input checked "
                + "(largest distance 2.00 <= threshold 5.84)"));
        assertTrue(report.logLines().isEmpty());
        assertFalse(report.outOfDistribution());
    }

    @Test
    void orderStatisticsEqualSortingOnTiesOddAndEvenCounts() {
        java.util.Random rng = new java.util.Random(7);
        for (int n : new int[] {1, 2, 3, 64, 1001, 4096}) {
            for (int levels : new int[] {3, 1000, 0}) { // many ties, some ties, continuous
                float[] a = new float[n];
                for (int i = 0; i < n; i++) {
                    a[i] = levels == 0 ? (float) rng.nextGaussian() : rng.nextInt(levels);
                }
                float[][] planes = {a.clone()};
                OodCheck.OrderStatistics order = new OodCheck.OrderStatistics(planes, OodCheck.FEATURE_PERCENTS);
                float[] sorted = a.clone();
                java.util.Arrays.sort(sorted);
                double median = n % 2 == 1 ? sorted[n / 2] : (float) ((sorted[n / 2 - 1] + (double) sorted[n / 2]) / 2);
                assertEquals(median, order.median(), 0.0, "median, n=" + n);
                double[] normalized = new double[n];
                for (int i = 0; i < n; i++) {
                    normalized[i] = (sorted[i] - 0.5f) / 2.5f;
                }
                for (int q : OodCheck.FEATURE_QUANTILES) {
                    assertEquals(NoiseEstimate.quantile(normalized, q / 100.0), order.normalizedQuantile(q, 0.5f, 2.5f),
                            0.0, "q" + q + ", n=" + n + ", levels=" + levels);
                }
                assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(planes[0]), "input left as it was");
            }
        }
    }

    @Test
    void powerSpectrumMatchesTheDirectDftAtEveryLengthKind() {
        java.util.Random rng = new java.util.Random(3);
        for (int[] wh : new int[][] {{16, 8}, {12, 10}, {7, 33}}) { // radix 2 and Bluestein, rows and columns
            int w = wh[0];
            int h = wh[1];
            double[] plane = new double[w * h];
            for (int i = 0; i < plane.length; i++) {
                plane[i] = rng.nextGaussian();
            }
            double[] fast = Fft.power2d(plane, w, h);
            for (int ky = 0; ky < h; ky++) {
                for (int kx = 0; kx < w; kx++) {
                    double re = 0;
                    double im = 0;
                    for (int y = 0; y < h; y++) {
                        for (int x = 0; x < w; x++) {
                            double a = -2 * Math.PI * ((double) ky * y / h + (double) kx * x / w);
                            re += plane[y * w + x] * Math.cos(a);
                            im += plane[y * w + x] * Math.sin(a);
                        }
                    }
                    assertEquals(re * re + im * im, fast[ky * w + kx], 1e-9 * (1 + re * re + im * im),
                            w + "x" + h + " at " + ky + "," + kx);
                }
            }
        }
    }
}
