package org.fluorecon.core;

/**
 * Percentile normalization: the contract in docs/DESIGN.md ("Normalization"), implemented
 * identically by {@code fluorecon.core.normalize} in Python.
 *
 * <p>Percentiles use NumPy's default linear interpolation between order statistics. They are
 * computed over the whole block being predicted (one channel of one time point), never per
 * tile; blocks larger than {@link #MAX_SAMPLES} values are subsampled with every k-th value in
 * C order, {@code k = ceil(N / MAX_SAMPLES)}.
 */
public final class Normalizer {

    /** Largest number of values a percentile is computed from before subsampling. */
    public static final int MAX_SAMPLES = 4_194_304;
    /** Floor of {@code hi - lo}, so constant images do not divide by zero. */
    public static final double EPS = 1e-6;

    private Normalizer() {
    }

    /** Parses {@code "percentile:LOW:HIGH"} into {low, high}. */
    public static double[] parseNorm(String norm) {
        String[] parts = norm == null ? new String[0] : norm.trim().split(":");
        if (parts.length != 3 || !parts[0].equals("percentile")) {
            throw new IllegalArgumentException("norm = '" + norm
                    + "' is not understood; expected 'percentile:LOW:HIGH', e.g. 'percentile:1:99.8'");
        }
        double low;
        double high;
        try {
            low = Double.parseDouble(parts[1]);
            high = Double.parseDouble(parts[2]);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("norm = '" + norm + "' has a percentile that is not a number");
        }
        if (!(low >= 0 && low < high && high <= 100)) {
            throw new IllegalArgumentException("norm = '" + norm
                    + "' needs 0 <= LOW < HIGH <= 100 percentiles");
        }
        return new double[] {low, high};
    }

    /** The divisor {@code max(hi - lo, EPS)}. */
    public static double range(double lo, double hi) {
        return Math.max(hi - lo, EPS);
    }

    /** Subsampling step for a block of {@code n} values. */
    public static long step(long n) {
        return n <= MAX_SAMPLES ? 1 : (n + MAX_SAMPLES - 1) / MAX_SAMPLES;
    }

    /** Percentiles {low, high} of one array. */
    public static double[] percentileRange(float[] values, double low, double high) {
        return percentileRange(new float[][] {values}, low, high);
    }

    /**
     * Percentiles {low, high} of a block stored as equally long planes, read in C order
     * (plane after plane), with the subsampling rule. The input is not modified.
     */
    public static double[] percentileRange(float[][] planes, double low, double high) {
        float[] sample = sample(planes);
        return percentilesInPlace(sample, low, high);
    }

    /** Copy of the values the percentiles are computed from (every k-th in C order). */
    static float[] sample(float[][] planes) {
        long n = 0;
        for (float[] p : planes) {
            n += p.length;
        }
        if (n == 0) {
            throw new IllegalArgumentException("cannot compute percentiles of an empty image");
        }
        long k = step(n);
        int m = (int) ((n + k - 1) / k);
        float[] out = new float[m];
        int j = 0;
        long offset = 0; // C-order index of the first value of the current plane
        for (float[] p : planes) {
            // first index in this plane that is a multiple of k
            long first = Math.floorMod(-offset, k);
            for (long i = first; i < p.length; i += k) {
                out[j++] = p[(int) i];
            }
            offset += p.length;
        }
        return out;
    }

    /** Percentiles of {@code a}, reordering it. */
    static double[] percentilesInPlace(float[] a, double low, double high) {
        int n = a.length;
        double[] out = new double[2];
        double[] ps = {low, high};
        int from = 0;
        for (int q = 0; q < 2; q++) {
            double rank = ps[q] / 100.0 * (n - 1);
            int k = (int) Math.floor(rank);
            if (k >= n - 1) {
                k = n - 1;
            }
            double t = rank - k;
            // select() leaves everything above k at indices > k, so the next order statistic
            // is their minimum; and the high percentile's search can start at the low one.
            select(a, Math.max(from, 0), n - 1, k);
            double v0 = a[k];
            double v1 = v0;
            if (k + 1 < n) {
                float mn = a[k + 1];
                for (int i = k + 2; i < n; i++) {
                    if (a[i] < mn) {
                        mn = a[i];
                    }
                }
                v1 = mn;
            }
            out[q] = lerp(v0, v1, t);
            from = k;
        }
        return out;
    }

    /** NumPy's {@code _lerp}: the form used depends on which end is nearer. */
    static double lerp(double a, double b, double t) {
        double d = b - a;
        return t >= 0.5 ? b - d * (1 - t) : a + d * t;
    }

    /** Rearranges {@code a[lo..hi]} so that {@code a[k]} holds the k-th smallest value. */
    static void select(float[] a, int lo, int hi, int k) {
        int depth = 2 * (32 - Integer.numberOfLeadingZeros(hi - lo + 1)) + 8;
        while (hi > lo) {
            if (hi - lo < 32 || depth-- == 0) {
                java.util.Arrays.sort(a, lo, hi + 1);
                return;
            }
            int mid = (lo + hi) >>> 1;
            // median of three as pivot
            if (a[mid] < a[lo]) {
                swap(a, mid, lo);
            }
            if (a[hi] < a[lo]) {
                swap(a, hi, lo);
            }
            if (a[hi] < a[mid]) {
                swap(a, hi, mid);
            }
            float pivot = a[mid];
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (a[i] < pivot) {
                    i++;
                }
                while (a[j] > pivot) {
                    j--;
                }
                if (i <= j) {
                    swap(a, i, j);
                    i++;
                    j--;
                }
            }
            if (k <= j) {
                hi = j;
            } else if (k >= i) {
                lo = i;
            } else {
                return; // a[j+1..i-1] all equal the pivot
            }
        }
    }

    private static void swap(float[] a, int i, int j) {
        float t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
