package org.fluorecon.core;

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

    /** {@link #power2d(double[], int, int)} into {@code out}, returned. */
    static double[] power2d(double[] plane, int w, int h, double[] out) {
        double[][] re = new double[h][w];
        double[][] im = new double[h][w];
        for (int y = 0; y < h; y++) {
            System.arraycopy(plane, y * w, re[y], 0, w);
            transform(re[y], im[y]);
        }
        double[] cr = new double[h];
        double[] ci = new double[h];
        for (int x = 0; x < w; x++) {
            for (int y = 0; y < h; y++) {
                cr[y] = re[y][x];
                ci[y] = im[y][x];
            }
            transform(cr, ci);
            for (int y = 0; y < h; y++) {
                out[y * w + x] = cr[y] * cr[y] + ci[y] * ci[y];
            }
        }
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
        for (int len = 2; len <= n; len <<= 1) {
            double ang = 2 * Math.PI / len * (inverse ? 1 : -1);
            int half = len >> 1;
            for (int k = 0; k < half; k++) {
                // Twiddles from cos/sin of each angle (not a recurrence) keep the error at rounding.
                double wr = Math.cos(ang * k);
                double wi = Math.sin(ang * k);
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

    /** Bluestein: a length-N DFT as a circular convolution of power-of-two length ≥ 2N − 1. */
    private static void bluestein(double[] re, double[] im) {
        int n = re.length;
        int m = Integer.highestOneBit(2 * n - 1) << 1;
        double[] cr = new double[n];
        double[] ci = new double[n];
        for (int k = 0; k < n; k++) {
            long kk = (long) k * k % (2L * n); // k² mod 2N keeps the chirp's angle exact for large k
            double a = Math.PI * kk / n;
            cr[k] = Math.cos(a);
            ci[k] = -Math.sin(a);
        }
        double[] ar = new double[m];
        double[] ai = new double[m];
        for (int k = 0; k < n; k++) {
            ar[k] = re[k] * cr[k] - im[k] * ci[k];
            ai[k] = re[k] * ci[k] + im[k] * cr[k];
        }
        double[] br = new double[m];
        double[] bi = new double[m];
        br[0] = cr[0];
        bi[0] = -ci[0];
        for (int k = 1; k < n; k++) {
            br[k] = br[m - k] = cr[k];
            bi[k] = bi[m - k] = -ci[k];
        }
        radix2(ar, ai, false);
        radix2(br, bi, false);
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
