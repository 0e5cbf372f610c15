package org.fluorecon.core;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.IntStream;

/**
 * The power spectrum {@code |fft2(x)|²} of a real plane of any size, as {@code numpy.fft.fft2}
 * computes it (to rounding): an in-place radix-2 transform for powers of two, Bluestein's chirp-z
 * for other lengths (images are rarely 2ⁿ pixels wide). Only the OOD features need it.
 */
final class Fft {

    private Fft() {
    }

    /** {@code |fft2(plane)|²} of a row-major {@code h × w} plane, in the same layout. */
    static double[] power2d(double[] plane, int w, int h) {
        return power2d(plane, w, h, new double[w * h]);
    }

    /** {@link #power2d(double[], int, int)} into {@code out}, returned. Rows, then columns, in parallel. */
    static double[] power2d(double[] plane, int w, int h, double[] out) {
        double[][] re = new double[h][w];
        double[][] im = new double[h][w];
        IntStream.range(0, h).parallel().forEach(y -> {
            System.arraycopy(plane, y * w, re[y], 0, w);
            transform(re[y], im[y]);
        });
        int block = 32; // columns per task: one pair of column buffers per task, not per column
        IntStream.range(0, (w + block - 1) / block).parallel().forEach(b -> {
            double[] cr = new double[h];
            double[] ci = new double[h];
            for (int x = b * block; x < Math.min(w, (b + 1) * block); x++) {
                for (int y = 0; y < h; y++) {
                    cr[y] = re[y][x];
                    ci[y] = im[y][x];
                }
                transform(cr, ci);
                for (int y = 0; y < h; y++) {
                    out[y * w + x] = cr[y] * cr[y] + ci[y] * ci[y];
                }
            }
        });
        return out;
    }

    /** Forward DFT {@code X[k] = Σ x[n] e^{-2πikn/N}} in place. */
    static void transform(double[] re, double[] im) {
        int n = re.length;
        if (n <= 1) {
            return;
        }
        if ((n & (n - 1)) == 0) {
            radix2(re, im, false);
        } else {
            bluestein(re, im);
        }
    }

    /**
     * {@code cos, sin} of {@code -2πi/n} for {@code i < n/2}, per power-of-two n, computed once: recomputing them for
     * every row and column was a third of the check's time. Each is a cos/sin of its own angle (not a recurrence), so
     * the error stays at rounding.
     */
    private static final Map<Integer, double[][]> TWIDDLES = new ConcurrentHashMap<>();

    private static double[][] twiddles(int n) {
        return TWIDDLES.computeIfAbsent(n, m -> {
            double[] c = new double[Math.max(1, m / 2)];
            double[] s = new double[c.length];
            for (int i = 0; i < m / 2; i++) {
                double a = -2 * Math.PI * i / m;
                c[i] = Math.cos(a);
                s[i] = Math.sin(a);
            }
            return new double[][] {c, s};
        });
    }

    private static void radix2(double[] re, double[] im, boolean inverse) {
        int n = re.length;
        for (int i = 1, j = 0; i < n; i++) {
            int bit = n >> 1;
            for (; (j & bit) != 0; bit >>= 1) {
                j ^= bit;
            }
            j ^= bit;
            if (i < j) {
                double t = re[i];
                re[i] = re[j];
                re[j] = t;
                t = im[i];
                im[i] = im[j];
                im[j] = t;
            }
        }
        double[][] tw = twiddles(n);
        double sign = inverse ? -1 : 1;
        for (int len = 2; len <= n; len <<= 1) {
            int half = len >> 1;
            int step = n / len;
            for (int k = 0; k < half; k++) {
                double wr = tw[0][k * step];
                double wi = sign * tw[1][k * step];
                for (int i = k; i < n; i += len) {
                    int j = i + half;
                    double xr = re[j] * wr - im[j] * wi;
                    double xi = re[j] * wi + im[j] * wr;
                    re[j] = re[i] - xr;
                    im[j] = im[i] - xi;
                    re[i] += xr;
                    im[i] += xi;
                }
            }
        }
        if (inverse) {
            for (int i = 0; i < n; i++) {
                re[i] /= n;
                im[i] /= n;
            }
        }
    }

    /** Bluestein's chirp of length n and the transform of its convolution kernel (length m), per n, made once. */
    private static final Map<Integer, double[][]> CHIRPS = new ConcurrentHashMap<>();

    private static double[][] chirp(int n) {
        return CHIRPS.computeIfAbsent(n, k0 -> {
            int m = Integer.highestOneBit(2 * n - 1) << 1;
            double[] cr = new double[n];
            double[] ci = new double[n];
            for (int k = 0; k < n; k++) {
                long kk = (long) k * k % (2L * n); // k² mod 2N keeps the chirp's angle exact for large k
                double a = Math.PI * kk / n;
                cr[k] = Math.cos(a);
                ci[k] = -Math.sin(a);
            }
            double[] br = new double[m];
            double[] bi = new double[m];
            br[0] = cr[0];
            bi[0] = -ci[0];
            for (int k = 1; k < n; k++) {
                br[k] = br[m - k] = cr[k];
                bi[k] = bi[m - k] = -ci[k];
            }
            radix2(br, bi, false);
            return new double[][] {cr, ci, br, bi};
        });
    }

    /** Bluestein: a length-N DFT as a circular convolution of power-of-two length ≥ 2N − 1. */
    private static void bluestein(double[] re, double[] im) {
        int n = re.length;
        double[][] c = chirp(n);
        double[] cr = c[0];
        double[] ci = c[1];
        double[] br = c[2];
        double[] bi = c[3];
        int m = br.length;
        double[] ar = new double[m];
        double[] ai = new double[m];
        for (int k = 0; k < n; k++) {
            ar[k] = re[k] * cr[k] - im[k] * ci[k];
            ai[k] = re[k] * ci[k] + im[k] * cr[k];
        }
        radix2(ar, ai, false);
        for (int k = 0; k < m; k++) {
            double r = ar[k] * br[k] - ai[k] * bi[k];
            ai[k] = ar[k] * bi[k] + ai[k] * br[k];
            ar[k] = r;
        }
        radix2(ar, ai, true);
        for (int k = 0; k < n; k++) {
            re[k] = ar[k] * cr[k] - ai[k] * ci[k];
            im[k] = ar[k] * ci[k] + ai[k] * cr[k];
        }
    }
}
