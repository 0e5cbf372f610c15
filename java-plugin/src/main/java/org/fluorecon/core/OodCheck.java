package org.fluorecon.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Is a model's input like its training data? The out-of-distribution check of
 * {@code fluorecon.qc.ood.check_input}, in Java, on the card's {@code qc.*} training statistics:
 * the same 25 features of one input unit (a YX plane, or the planes a model takes together: a ZYX
 * stack, SIM frames), the same z-scores, Mahalanobis distance and calibrated threshold, and the
 * same fallback (normalized quantiles and noise level) for cards without {@code qc.features}.
 * tests/vectors/ood.json holds Python's figures for a few images; OodCheckTest holds this class to them.
 * {@link OodReport} collects the verdicts of a run and shows them (Log, Info, title).
 */
public final class OodCheck {

    /** Spatial-frequency bands (cycles per pixel) whose share of the signal power describes structure. */
    static final double[][] BANDS = {{0.01, 0.03}, {0.03, 0.06}, {0.06, 0.12}, {0.12, 0.25}};
    static final int[] FEATURE_QUANTILES = {5, 25, 50, 75, 95};
    static final double[] FEATURE_PERCENTS = java.util.Arrays.stream(FEATURE_QUANTILES).asDoubleStream().toArray();
    static final int[] LAGS = {1, 2, 4, 8, 16};
    static final double[] GRADIENT_SIGMAS = {1.0, 2.0};
    /** Python's {@code MOMENT_SIGMAS}, {@code MOMENT_FLOOR}, {@code PROFILE_BIN} and {@code COHERENCE_RHO}. */
    static final double[] MOMENT_SIGMAS = {1.0, 1.5};
    static final double MOMENT_FLOOR = 0.02;
    static final double PROFILE_BIN = 0.01;
    static final double COHERENCE_RHO = 4.0;
    public static final int MAX_PLANES = 16;
    /**
     * A unit with more pixels than one 2048² plane is examined on {@link #WINDOW}² windows ({@link #windows}), so
     * the check costs at most what a 2048² plane costs: on 8192² the whole-plane FFTs and sorts took 76 s and 3 GiB,
     * as long as the model itself. Python's {@code _MAX_PIXELS}, {@code _WINDOW}.
     */
    static final long MAX_PIXELS = 2048L * 2048L;
    static final int WINDOW = 512;
    /** What an out-of-distribution warning offers; the same words as {@code fluorecon.qc.ood.WAY_FORWARD}. */
    static final String WAY_FORWARD = "Train for this microscope: fit the simulation to this image and fine-tune the "
            + "model (fluorecon train denoise --like IMAGE; Fiji: Denoise \u203a Train for my microscope\u2026), or "
            + "train Noise2Void on this image.";
    static final double[] QUANTILES = {1, 5, 25, 50, 75, 95, 99};
    static final double QUANTILE_TOLERANCE = 0.15;
    static final double[] NOISE_RATIO_RANGE = {0.5, 2.0};
    static final double PIXEL_SIZE_TOLERANCE = 0.2;
    /** Features this many SD off are named as "out" in the Info. */
    static final double OUT_SD = 3.0;

    /** Feature name → the group a warning names (Python's {@code FEATURES}, same order). */
    static final Map<String, String> FEATURES = new LinkedHashMap<>();

    static {
        FEATURES.put("log10_range", "intensity scale");
        FEATURES.put("log10_noise", "noise level");
        for (int q : FEATURE_QUANTILES) {
            FEATURES.put("q" + q, "intensity distribution");
        }
        for (double[] b : BANDS) {
            FEATURES.put("band_" + fmtG(b[0]) + "_" + fmtG(b[1]), "structure");
        }
        FEATURES.put("spectral_slope", "structure");
        for (int k : LAGS) {
            FEATURES.put("acf_" + k + "px", "structure");
        }
        for (double s : GRADIENT_SIGMAS) {
            FEATURES.put("log10_gradient_s" + fmtG(s), "structure");
        }
        for (double s : MOMENT_SIGMAS) {
            FEATURES.put("log10_freq2_s" + fmtG(s), "structure");
            FEATURES.put("log10_freq4_freq2_s" + fmtG(s), "structure");
        }
        FEATURES.put("log10_high_mid", "structure");
        FEATURES.put("coherence_r4", "structure");
    }

    private static final Map<String, String> ADVICE = Map.of(
            "intensity scale", "the camera, gain or exposure differs from training (e.g. far brighter); the model was "
                    + "trained on other photon counts",
            "noise level", "the model may remove real structure or leave noise",
            "intensity distribution", "e.g. much more background or saturated regions than in training",
            "structure", "the texture (spatial-frequency content) is unlike the training phantoms (filaments, vesicles, "
                    + "membranes, nuclei at the training pixel size): the model may invent or remove structure");

    private OodCheck() {
    }

    /** The verdict on one input unit. */
    public static final class Result {
        /** False when the card has no training statistics: nothing could be compared. */
        public boolean checked = true;
        public double distance = Double.NaN;
        public double threshold = Double.NaN;
        /** Feature → z-score against the training inputs, in the card's order. */
        public final Map<String, Double> z = new LinkedHashMap<>();
        /** Other figures: quantile_shift, noise_ratio, pixel_size_ratio. */
        public final Map<String, Double> scores = new LinkedHashMap<>();
        public final List<String> warnings = new ArrayList<>();

        /** A unit that could not be checked (e.g. smaller than one 8×8 noise block), and why. */
        public static Result unchecked(String why) {
            Result r = new Result();
            r.checked = false;
            r.warnings.add(why);
            return r;
        }

        public boolean inDistribution() {
            return warnings.isEmpty();
        }

        /** Features {@link #OUT_SD} or more SD from the training mean, furthest first, e.g. "log10_range +25.1 SD". */
        public List<String> outFeatures() {
            List<Map.Entry<String, Double>> out = new ArrayList<>();
            for (Map.Entry<String, Double> e : z.entrySet()) {
                if (Math.abs(e.getValue()) >= OUT_SD) {
                    out.add(e);
                }
            }
            out.sort((u, v) -> Double.compare(Math.abs(v.getValue()), Math.abs(u.getValue())));
            List<String> names = new ArrayList<>();
            for (Map.Entry<String, Double> e : out) {
                names.add(String.format(Locale.ROOT, "%s %+.1f SD", e.getKey(), e.getValue()));
            }
            return names;
        }
    }

    /**
     * Compares one raw input unit (equally sized row-major planes {@code w} pixels wide, camera
     * units) with a card's {@code qc.*} statistics; {@code pixelSizeNm} NaN when uncalibrated.
     */
    public static Result check(float[][] planes, int w, Map<String, String> qc, String norm, double pixelSizeNm) {
        if (!qc.containsKey("input_quantiles") && !qc.containsKey("features")) {
            return Result.unchecked("The model card has no training statistics; this input cannot be checked against "
                    + "the training data (re-export the model with fluorecon ≥ 0.1).");
        }
        Result r = new Result();
        if (qc.containsKey("features")) {
            featureCheck(planes, w, qc, norm, r);
        } else {
            quantileCheck(planes, w, qc, norm, r);
        }
        if (Double.isFinite(pixelSizeNm) && pixelSizeNm > 0 && qc.containsKey("pixel_size_nm")) {
            double trained = Double.parseDouble(qc.get("pixel_size_nm"));
            double rel = pixelSizeNm / trained;
            r.scores.put("pixel_size_ratio", rel);
            if (Math.abs(rel - 1) > PIXEL_SIZE_TOLERANCE) {
                r.warnings.add(String.format(Locale.ROOT, "Pixel size %s nm differs from training (%s nm) by %.0f%%; "
                        + "structures appear at another scale than the model learned.", fmtG(pixelSizeNm),
                        qc.get("pixel_size_nm"), Math.abs(rel - 1) * 100));
            }
        }
        return r;
    }

    private static void featureCheck(float[][] planes, int w, Map<String, String> qc, String norm, Result r) {
        String[] names = qc.get("features").split(",");
        double[] center = parse(qc, "feature_center", names.length);
        double[] scale = parse(qc, "feature_scale", names.length);
        double[] precision = parse(qc, "feature_precision", names.length * names.length);
        double threshold = Double.parseDouble(qc.get("feature_threshold"));
        Map<String, Double> feats = features(planes, w, norm);
        double[] z = new double[names.length];
        for (int i = 0; i < names.length; i++) {
            Double f = feats.get(names[i]);
            if (f == null) {
                throw new ModelCardException("Model card qc.features names '" + names[i] + "', a feature this fluorecon "
                        + "does not compute; update fluorecon.");
            }
            z[i] = (f - center[i]) / scale[i];
            r.z.put(names[i], z[i]);
        }
        double q = 0;
        for (int i = 0; i < names.length; i++) {
            for (int j = 0; j < names.length; j++) {
                q += z[i] * precision[i * names.length + j] * z[j];
            }
        }
        double distance = Math.sqrt(Math.max(q, 0.0));
        r.distance = distance;
        r.threshold = threshold;
        if (qc.containsKey("input_quantiles")) { // the older figures, for reference (the distance decides)
            Result old = new Result();
            quantileCheck(planes, w, qc, norm, old);
            r.scores.putAll(old.scores);
        }
        if (!(distance > threshold)) {
            return;
        }
        // Name every group with a feature 3 SD or more off (and always the one that strays furthest).
        Map<String, List<Integer>> groups = new LinkedHashMap<>();
        double top = 0;
        for (int i = 0; i < names.length; i++) {
            groups.computeIfAbsent(FEATURES.getOrDefault(names[i], "other"), g -> new ArrayList<>()).add(i);
            top = Math.max(top, Math.abs(z[i]));
        }
        for (Map.Entry<String, List<Integer>> entry : groups.entrySet()) {
            int worst = entry.getValue().get(0);
            for (int i : entry.getValue()) {
                if (Math.abs(z[i]) > Math.abs(z[worst])) {
                    worst = i;
                }
            }
            if (Math.abs(z[worst]) < Math.min(3.0, top)) {
                continue;
            }
            String n = names[worst];
            double v = z[worst];
            String detail = String.format(Locale.ROOT, "distance %.1f > %s from the training inputs; largest: %s %s the "
                    + "training mean by %.1f SD", distance, g(threshold, 2), n, v > 0 ? "above" : "below", Math.abs(v));
            if (n.equals("log10_range")) {
                detail += "; intensity range " + g(Math.pow(10, feats.get(n)), 4) + " vs training "
                        + g(Math.pow(10, center[worst]), 4);
            }
            if (n.equals("log10_noise")) {
                detail += String.format(Locale.ROOT, "; noise %.2f× that of training",
                        Math.pow(10, feats.get(n) - center[worst]));
            }
            String group = entry.getKey();
            r.warnings.add(Character.toUpperCase(group.charAt(0)) + group.substring(1) + " differs from the training "
                    + "data (" + detail + "): " + ADVICE.getOrDefault(group, "") + ". " + WAY_FORWARD);
        }
    }

    /** Cards without {@code qc.features}: normalized quantiles and noise level against the training figures. */
    private static void quantileCheck(float[][] all, int width, Map<String, String> qc, String norm, Result r) {
        double[] pct = percentiles(norm);
        double[] range = Normalizer.percentileRange(all, pct[0], pct[1]);
        float[][] planes = all;
        int w = width;
        if ((long) all.length * all[0].length > MAX_PIXELS) { // a large unit: its windows, as features()
            planes = windows(all, w, all[0].length / w);
            w = Math.min(WINDOW, w);
        }
        float lo = (float) range[0];
        float div = (float) Normalizer.range(range[0], range[1]);
        OrderStatistics order = new OrderStatistics(planes, QUANTILES);
        double shift = 0;
        String[] train = qc.get("input_quantiles").split(",");
        for (int i = 0; i < QUANTILES.length && i < train.length; i++) {
            shift = Math.max(shift, Math.abs(order.normalizedQuantile(QUANTILES[i], lo, div)
                    - Double.parseDouble(train[i])));
        }
        r.scores.put("quantile_shift", shift);
        NoiseEstimate noise = NoiseEstimate.of(planes, w);
        double sigma = (float) Math.sqrt(noise.variance(order.median())) / Normalizer.range(range[0], range[1]);
        if (shift > QUANTILE_TOLERANCE) {
            r.warnings.add(String.format(Locale.ROOT, "Intensity distribution differs from the training data "
                    + "(normalized quantiles differ by up to %.2f, tolerance %s); e.g. much more background or "
                    + "saturated regions than in training.", shift, fmtG(QUANTILE_TOLERANCE)));
        }
        if (qc.containsKey("noise_std_norm")) {
            double ratio = sigma / Math.max(Double.parseDouble(qc.get("noise_std_norm")), 1e-12);
            r.scores.put("noise_ratio", ratio);
            if (!(ratio >= NOISE_RATIO_RANGE[0] && ratio <= NOISE_RATIO_RANGE[1])) {
                r.warnings.add(String.format(Locale.ROOT, "Noise level is %.2f× that of the training data (accepted "
                        + "%.1f–%.1f×); the model may remove real structure or leave noise. ", ratio, NOISE_RATIO_RANGE[0], NOISE_RATIO_RANGE[1]) + WAY_FORWARD);
            }
        }
    }

    /** The OOD features ({@link #FEATURES}) of one input unit: {@code fluorecon.qc.ood.image_features}. */
    public static Map<String, Double> features(float[][] all, int width, String norm) {
        int w = width;
        int h = all[0].length / w;
        if (h < 2 || w < 2) {
            throw new FluoreconException("The OOD check needs an image with Y and X axes, got " + w + "x" + h + ".");
        }
        float[][] planes = all;
        if (all.length > MAX_PLANES) { // a long stack: evenly spaced planes describe it
            planes = new float[MAX_PLANES][];
            int[] pick = linspaceIndices(all.length - 1, MAX_PLANES);
            for (int i = 0; i < MAX_PLANES; i++) {
                planes[i] = all[pick[i]];
            }
        }
        boolean windowed = (long) planes.length * planes[0].length > MAX_PIXELS;
        if (windowed) {
            planes = windows(planes, w, h);
            w = Math.min(WINDOW, w);
            h = Math.min(WINDOW, h);
        }
        double[] pct = percentiles(norm);
        double[] range = Normalizer.percentileRange(all, pct[0], pct[1]);
        double scale = Math.max(range[1] - range[0], 1e-6);
        NoiseEstimate noise = NoiseEstimate.of(planes, w);
        OrderStatistics order = new OrderStatistics(planes, FEATURE_PERCENTS);
        double sigmaMedian = (float) Math.sqrt(noise.variance(order.median())) / scale;
        Map<String, Double> f = new LinkedHashMap<>();
        f.put("log10_range", Math.log10(scale));
        f.put("log10_noise", Math.log10(Math.max(sigmaMedian, 1e-6)));
        float lo = (float) range[0];
        float fs = (float) scale;
        for (int q : FEATURE_QUANTILES) {
            f.put("q" + q, order.normalizedQuantile(q, lo, fs));
        }
        double varSum = 0;
        for (float[] p : planes) {
            for (float v : p) {
                varSum += noise.variance(v);
            }
        }
        double noiseVar = varSum / ((double) planes.length * planes[0].length) / (scale * scale);
        double[][] xn = new double[planes.length][];
        for (int i = 0; i < planes.length; i++) {
            xn[i] = new double[planes[i].length];
            for (int k = 0; k < xn[i].length; k++) {
                xn[i][k] = (planes[i][k] - lo) / fs; // float32 arithmetic, as NumPy's on float32 planes
            }
        }
        double[] raw = spectrumFeatures(xn, w, h, noiseVar, windowed, f);
        double coherence = correlationFeatures(xn, w, h, noiseVar, f);
        // The noise floor under the window, pixel by pixel (Poisson noise is larger on the structures).
        double[] wy = hanning(h);
        double[] wx = hanning(w);
        double floor = 0;
        for (float[] p : planes) {
            double e = 0;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    double wv = wy[y] * wx[x];
                    e += wv * wv * noise.variance(p[y * w + x]);
                }
            }
            floor += e;
        }
        floor = floor / planes.length / (scale * scale);
        momentFeatures(raw, w, h, floor, f);
        f.put("coherence_r4", coherence);
        return f;
    }

    /** Moments of the whitened signal spectrum under Gaussian tapers, and its high/mid band ratio. */
    private static void momentFeatures(double[] raw, int w, int h, double floor, Map<String, Double> f) {
        double[] fy = fftfreq(h);
        double[] fx = fftfreq(w);
        int n = w * h;
        double[] radius = new double[n];
        int maxBin = (int) (0.75 / PROFILE_BIN);
        int[] bins = new int[n];
        double[] sums = new double[maxBin + 1];
        int[] counts = new int[maxBin + 1];
        double fl = Math.max(floor, 1e-30);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                radius[i] = Math.sqrt(fy[y] * fy[y] + fx[x] * fx[x]);
                bins[i] = Math.min((int) (radius[i] / PROFILE_BIN), maxBin);
                sums[bins[i]] += raw[i] / fl - 1.0;
                counts[bins[i]]++;
            }
        }
        double[] white = new double[n];
        for (int i = 0; i < n; i++) {
            white[i] = Math.max(sums[bins[i]] / Math.max(counts[bins[i]], 1), 0.0) + MOMENT_FLOOR;
        }
        for (double s : MOMENT_SIGMAS) {
            double m0 = 0;
            double m1 = 0;
            double m2 = 0;
            for (int i = 0; i < n; i++) {
                double t = 2 * Math.PI * radius[i];
                double w2 = t * t;
                double taper = Math.exp(-w2 * (s * s)) * white[i];
                m0 += taper;
                m1 += w2 * taper;
                m2 += w2 * w2 * taper;
            }
            f.put("log10_freq2_s" + fmtG(s), Math.log10(m1 / m0));
            f.put("log10_freq4_freq2_s" + fmtG(s), Math.log10(m2 / m1));
        }
        double high = bandMean(white, radius, 0.2, 0.3);
        double mid = bandMean(white, radius, 0.05, 0.1);
        f.put("log10_high_mid", Math.log10(high / mid));
    }

    private static double bandMean(double[] white, double[] radius, double lo, double hi) {
        double s = 0;
        int n = 0;
        for (int i = 0; i < white.length; i++) {
            if (radius[i] >= lo && radius[i] < hi) {
                s += white[i];
                n++;
            }
        }
        return n > 0 ? s / n : MOMENT_FLOOR; // a tiny plane: no pixel in the band
    }

    /** Band shares and slope of the radially averaged power spectrum (Hann window, white-noise floor removed). */
    /** {@code np.linspace(0, last, n).round()}: evenly spaced indices, the ends exact, halves to even. */
    static int[] linspaceIndices(int last, int n) {
        int[] out = new int[n];
        double step = n > 1 ? last / (double) (n - 1) : 0;
        for (int i = 0; i < n; i++) {
            out[i] = (int) Math.rint(i == n - 1 ? last : i * step);
        }
        return out;
    }

    /**
     * {@link #WINDOW}² windows of equally sized planes {@code w} × {@code h}: a grid of ceil(h / W) × ceil(w / W)
     * per plane at evenly spaced (rounded) offsets, then at most {@link #MAX_PLANES} of all windows in (plane, row,
     * column) order, evenly spaced (Python's {@code _windows}).
     */
    static float[][] windows(float[][] planes, int w, int h) {
        int wy = Math.min(WINDOW, h);
        int wx = Math.min(WINDOW, w);
        int[] ys = linspaceIndices(h - wy, (h + wy - 1) / wy);
        int[] xs = linspaceIndices(w - wx, (w + wx - 1) / wx);
        int perPlane = ys.length * xs.length;
        int n = planes.length * perPlane;
        int[] pick = linspaceIndices(n - 1, Math.min(n, MAX_PLANES));
        float[][] out = new float[pick.length][];
        for (int k = 0; k < pick.length; k++) {
            float[] plane = planes[pick[k] / perPlane];
            int r = pick[k] % perPlane;
            int y0 = ys[r / xs.length];
            int x0 = xs[r % xs.length];
            float[] win = new float[wy * wx];
            for (int y = 0; y < wy; y++) {
                System.arraycopy(plane, (y0 + y) * w + x0, win, y * wx, wx);
            }
            out[k] = win;
        }
        return out;
    }

    /**
     * Band shares and slope (and the raw mean power spectrum, returned): the planes of a stack pooled before the
     * noise floor is removed, {@code windows} of one large plane each after (Python's {@code _clipped_power}: their
     * mean keeps a single plane's periodogram bias, as in training).
     */
    private static double[] spectrumFeatures(double[][] xn, int w, int h, double noiseVar, boolean windows,
                                             Map<String, Double> f) {
        double[] wy = hanning(h);
        double[] wx = hanning(w);
        double[] power = new double[w * h];
        double windowEnergy = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                windowEnergy += wy[y] * wx[x] * (wy[y] * wx[x]);
            }
        }
        double floor = noiseVar * windowEnergy;
        double[] clipped = windows ? new double[w * h] : null;
        double[] p = new double[w * h];
        double[] pw = new double[w * h];
        for (double[] plane : xn) {
            double mean = mean(plane);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    p[y * w + x] = (plane[y * w + x] - mean) * (wy[y] * wx[x]);
                }
            }
            Fft.power2d(p, w, h, pw);
            for (int i = 0; i < pw.length; i++) {
                power[i] += pw[i];
                if (windows) {
                    clipped[i] += Math.max(pw[i] - floor, 0.0);
                }
            }
        }
        double[] raw = new double[w * h];
        double[] radius = new double[w * h];
        double[] fy = fftfreq(h);
        double[] fx = fftfreq(w);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                radius[i] = Math.sqrt(fy[y] * fy[y] + fx[x] * fx[x]);
                raw[i] = power[i] / xn.length;
                power[i] = windows ? clipped[i] / xn.length : Math.max(raw[i] - floor, 0.0);
            }
        }
        double total = 0;
        double[] band = new double[BANDS.length];
        for (int i = 0; i < power.length; i++) {
            if (radius[i] >= BANDS[0][0] && radius[i] < BANDS[BANDS.length - 1][1]) {
                total += power[i];
            }
            for (int b = 0; b < BANDS.length; b++) {
                if (radius[i] >= BANDS[b][0] && radius[i] < BANDS[b][1]) {
                    band[b] += power[i];
                }
            }
        }
        total = Math.max(total, 1e-12);
        for (int b = 0; b < BANDS.length; b++) {
            f.put("band_" + fmtG(BANDS[b][0]) + "_" + fmtG(BANDS[b][1]), Math.log10(Math.max(band[b] / total, 1e-4)));
        }
        // Slope of log power against log frequency between 0.02 and 0.2 cycles/pixel (8 log-spaced bins).
        double[] edges = geomspace(0.02, 0.2, 9);
        List<Double> lx = new ArrayList<>();
        List<Double> ly = new ArrayList<>();
        for (int e = 0; e + 1 < edges.length; e++) {
            double s = 0;
            int n = 0;
            for (int i = 0; i < power.length; i++) {
                if (radius[i] >= edges[e] && radius[i] < edges[e + 1]) {
                    s += power[i];
                    n++;
                }
            }
            if (n > 0) {
                lx.add(Math.log10(Math.sqrt(edges[e] * edges[e + 1])));
                ly.add(Math.log10(Math.max(s / n, 1e-12)));
            }
        }
        f.put("spectral_slope", lx.size() >= 2 ? NoiseEstimate.fitLine(lx, ly)[0] : 0.0);
        return raw;
    }

    /**
     * Signal autocorrelation at 1–16 px (circular, noise removed from lag 0) and smoothed gradient energy; returns
     * the energy-weighted orientation coherence of the structure tensor (gradients at 1 px, integrated over 4 px).
     */
    private static double correlationFeatures(double[][] xn, int w, int h, double noiseVar, Map<String, Double> f) {
        double tensorDiff = 0;
        double tensorSum = 0;
        double acf0 = 0;
        double[] acfY = new double[LAGS.length];
        double[] acfX = new double[LAGS.length];
        double[] grads = new double[GRADIENT_SIGMAS.length];
        int n = w * h;
        // One set of buffers for all planes (up to 16 windows of 512²), not ~100 MB of garbage per plane.
        double[] x = new double[n];
        double[] tmp = new double[n];
        double[] g = new double[n];
        double[] gy = new double[n];
        double[] gx = new double[n];
        double[] tyy = new double[n];
        double[] txx = new double[n];
        double[] txy = new double[n];
        double[] jyy = new double[n];
        double[] jxx = new double[n];
        double[] jxy = new double[n];
        for (double[] plane : xn) {
            double mean = mean(plane);
            for (int i = 0; i < n; i++) {
                x[i] = plane[i] - mean;
            }
            double s0 = 0;
            for (double v : x) {
                s0 += v * v;
            }
            acf0 += s0 / n;
            for (int l = 0; l < LAGS.length; l++) {
                int ky = Math.min(LAGS[l], h - 1);
                int kx = Math.min(LAGS[l], w - 1);
                double sy = 0;
                double sx = 0;
                for (int yy = 0; yy < h; yy++) {
                    int row = yy * w;
                    int row2 = (yy + ky < h ? yy + ky : yy + ky - h) * w;
                    for (int xx = 0; xx < w; xx++) {
                        int x2 = xx + kx < w ? xx + kx : xx + kx - w;
                        sy += x[row + xx] * x[row2 + xx];
                        sx += x[row + xx] * x[row + x2];
                    }
                }
                acfY[l] += sy / n;
                acfX[l] += sx / n;
            }
            for (int s = 0; s < GRADIENT_SIGMAS.length; s++) {
                Filters.gaussian(plane, w, h, GRADIENT_SIGMAS[s], tmp, g);
                Filters.gradient(g, w, h, 0, gy);
                Filters.gradient(g, w, h, 1, gx);
                double e = 0;
                for (int i = 0; i < n; i++) {
                    e += gy[i] * gy[i] + gx[i] * gx[i];
                }
                double gm = mean(g);
                double gv = 0;
                for (double v : g) {
                    gv += (v - gm) * (v - gm);
                }
                grads[s] += (e / n) / Math.max(gv / n, 1e-12);
                if (GRADIENT_SIGMAS[s] == 1.0) {
                    for (int i = 0; i < n; i++) {
                        tyy[i] = gy[i] * gy[i];
                        txx[i] = gx[i] * gx[i];
                        txy[i] = gy[i] * gx[i];
                    }
                    Filters.gaussian(tyy, w, h, COHERENCE_RHO, tmp, jyy);
                    Filters.gaussian(txx, w, h, COHERENCE_RHO, tmp, jxx);
                    Filters.gaussian(txy, w, h, COHERENCE_RHO, tmp, jxy);
                    for (int i = 0; i < n; i++) {
                        double d = jxx[i] - jyy[i];
                        tensorDiff += Math.sqrt(d * d + 4 * jxy[i] * jxy[i]);
                        tensorSum += jxx[i] + jyy[i];
                    }
                }
            }
        }
        int planes = xn.length;
        double signalVar = Math.max(acf0 / planes - noiseVar, 1e-12);
        for (int l = 0; l < LAGS.length; l++) {
            double v = (acfY[l] / planes + acfX[l] / planes) / 2 / signalVar;
            f.put("acf_" + LAGS[l] + "px", Math.min(Math.max(v, -2), 2));
        }
        for (int s = 0; s < GRADIENT_SIGMAS.length; s++) {
            f.put("log10_gradient_s" + fmtG(GRADIENT_SIGMAS[s]), Math.log10(Math.max(grads[s] / planes, 1e-12)));
        }
        return tensorDiff / Math.max(tensorSum, 1e-12);
    }

    /** The card's percentile pair; SMLM cards ({@code photons:…}) are judged on the 1/99.8 percentiles. */
    static double[] percentiles(String norm) {
        try {
            return Normalizer.parseNorm(norm);
        } catch (IllegalArgumentException e) {
            return new double[] {1.0, 99.8};
        }
    }

    /**
     * The median and the percentiles of all values of the planes, by selection ({@link Normalizer#select} from one
     * needed rank to the next) instead of sorting 4 M values: the same numbers as {@code np.median} and
     * {@link NoiseEstimate#quantile} on the sorted values, normalized after selection ({@code (v - lo) / scale} in
     * float32 never reverses the order of two values).
     */
    static final class OrderStatistics {
        private final int n;
        private final java.util.TreeMap<Integer, Float> at = new java.util.TreeMap<>();

        OrderStatistics(float[][] planes, double[] percents) {
            float[] all = new float[planes.length * planes[0].length];
            int j = 0;
            for (float[] p : planes) {
                System.arraycopy(p, 0, all, j, p.length);
                j += p.length;
            }
            n = all.length;
            java.util.TreeSet<Integer> ranks = new java.util.TreeSet<>();
            ranks.add((n - 1) / 2);
            ranks.add(n / 2);
            for (double q : percents) {
                int k = Math.min((int) Math.floor(q / 100.0 * (n - 1)), n - 1);
                ranks.add(k);
                ranks.add(Math.min(k + 1, n - 1));
            }
            int from = 0;
            for (int k : ranks) {
                Normalizer.select(all, from, n - 1, k);
                at.put(k, all[k]);
                from = k + 1; // everything at k + 1 and beyond is ≥ all[k]
            }
        }

        /** {@code np.median} (a float32 result). */
        double median() {
            return n % 2 == 1 ? at.get(n / 2) : (float) ((at.get(n / 2 - 1) + (double) at.get(n / 2)) / 2);
        }

        /** {@link NoiseEstimate#quantile} of the normalized values at {@code percent}. */
        double normalizedQuantile(double percent, float lo, float scale) {
            double rank = percent / 100.0 * (n - 1);
            int k = Math.min((int) Math.floor(rank), n - 1);
            double v0 = (at.get(k) - lo) / scale;
            double v1 = k + 1 < n ? (at.get(k + 1) - lo) / scale : v0;
            return Normalizer.lerp(v0, v1, rank - k);
        }

    }

    private static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    /** {@code np.hanning(m)}. */
    static double[] hanning(int m) {
        double[] out = new double[m];
        if (m == 1) {
            out[0] = 1;
            return out;
        }
        for (int i = 0; i < m; i++) {
            double n = 1 - m + 2 * i;
            out[i] = 0.5 + 0.5 * Math.cos(Math.PI * n / (m - 1));
        }
        return out;
    }

    /** {@code np.fft.fftfreq(n)}. */
    static double[] fftfreq(int n) {
        double val = 1.0 / n;
        double[] out = new double[n];
        int half = (n - 1) / 2 + 1;
        for (int i = 0; i < n; i++) {
            out[i] = (i < half ? i : i - n) * val;
        }
        return out;
    }

    /** {@code np.geomspace(start, stop, num)}: 10 to the evenly spaced logs, the ends exact. */
    static double[] geomspace(double start, double stop, int num) {
        double a = Math.log10(start);
        double b = Math.log10(stop);
        double step = (b - a) / (num - 1);
        double[] out = new double[num];
        for (int i = 0; i < num; i++) {
            out[i] = Math.pow(10.0, i * step + a);
        }
        out[0] = start;
        out[num - 1] = stop;
        return out;
    }

    private static double[] parse(Map<String, String> qc, String key, int n) {
        String[] parts = qc.getOrDefault(key, "").split(",");
        if (parts.length != n) {
            throw new ModelCardException("Model card qc." + key + " has " + parts.length + " values, expected " + n
                    + "; re-export the model.");
        }
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = Double.parseDouble(parts[i].trim());
        }
        return out;
    }

    /** Python's {@code f"{v:g}"} for the short numbers in names and messages. */
    static String fmtG(double v) {
        return g(v, 6);
    }

    /** Python's {@code format(v, ".<p>g")}: p significant digits, trailing zeros dropped, e±XX beyond them. */
    static String g(double v, int p) {
        if (v == 0 || !Double.isFinite(v)) {
            return v == 0 ? "0" : Double.toString(v);
        }
        String e = String.format(Locale.ROOT, "%." + (p - 1) + "e", v);
        int exp = Integer.parseInt(e.substring(e.indexOf('e') + 1));
        if (exp < -4 || exp >= p) {
            String mant = stripZeros(e.substring(0, e.indexOf('e')));
            return String.format(Locale.ROOT, "%se%s%02d", mant, exp < 0 ? "-" : "+", Math.abs(exp));
        }
        return stripZeros(String.format(Locale.ROOT, "%." + (p - 1 - exp) + "f", v));
    }

    private static String stripZeros(String s) {
        return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
    }
}
