package org.fluorecon.core;

/**
 * The few SciPy/NumPy filters the OOD features use, on row-major double planes, with SciPy's
 * {@code mode="reflect"} border ({@code d c b a | a b c d | d c b a}): {@code correlate1d},
 * {@code gaussian_filter} (truncate 4) and {@code np.gradient} (one-sided at the edges).
 */
final class Filters {

    private Filters() {
    }

    /** SciPy's "reflect" index of {@code i} in {@code [0, n)}: the signal repeats mirrored with period 2n. */
    static int reflect(int i, int n) {
        int m = Math.floorMod(i, 2 * n);
        return m < n ? m : 2 * n - 1 - m;
    }

    /** {@code scipy.ndimage.correlate1d(plane, kernel, axis)} (axis 0 = y, 1 = x), odd kernel centred. */
    static double[] correlate(double[] plane, int w, int h, double[] kernel, int axis) {
        return correlate(plane, w, h, kernel, axis, new double[plane.length]);
    }

    /**
     * {@link #correlate(double[], int, int, double[], int)} into {@code out} (not {@code plane}), returned: the
     * OOD check reuses its buffers over its windows instead of leaving ~50 MB of garbage per 512² window.
     */
    static double[] correlate(double[] plane, int w, int h, double[] kernel, int axis, double[] out) {
        int r = kernel.length / 2;
        int n = axis == 0 ? h : w;
        int[] idx = new int[n + 2 * r];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = reflect(i - r, n);
        }
        // Each output is the sum over the taps in kernel order (as before, so the values are the same bits); along
        // y a whole row is accumulated per tap, which reads rows in order instead of striding down columns.
        // Rows in parallel: every output value is the same sum in the same order as on one thread.
        if (axis == 0) {
            java.util.stream.IntStream.range(0, h).parallel().forEach(y -> {
                int o = y * w;
                java.util.Arrays.fill(out, o, o + w, 0.0);
                for (int k = 0; k < kernel.length; k++) {
                    double c = kernel[k];
                    int src = idx[y + k] * w;
                    for (int x = 0; x < w; x++) {
                        out[o + x] += c * plane[src + x];
                    }
                }
            });
        } else {
            java.util.stream.IntStream.range(0, h).parallel().forEach(y -> {
                int row = y * w;
                for (int x = 0; x < w; x++) {
                    double s = 0;
                    for (int k = 0; k < kernel.length; k++) {
                        s += kernel[k] * plane[row + idx[x + k]];
                    }
                    out[row + x] = s;
                }
            });
        }
        return out;
    }

    /** {@code scipy.ndimage.gaussian_filter(plane, sigma)}: axis 0 then axis 1, radius int(4σ + 0.5). */
    static double[] gaussian(double[] plane, int w, int h, double sigma) {
        return gaussian(plane, w, h, sigma, new double[plane.length], new double[plane.length]);
    }

    /** {@link #gaussian(double[], int, int, double)} into {@code out}, through {@code tmp}; returns {@code out}. */
    static double[] gaussian(double[] plane, int w, int h, double sigma, double[] tmp, double[] out) {
        int r = (int) (4.0 * sigma + 0.5);
        double[] k = new double[2 * r + 1];
        double sum = 0;
        for (int i = -r; i <= r; i++) {
            k[i + r] = Math.exp(-0.5 / (sigma * sigma) * i * i);
            sum += k[i + r];
        }
        for (int i = 0; i < k.length; i++) {
            k[i] /= sum;
        }
        return correlate(correlate(plane, w, h, k, 0, tmp), w, h, k, 1, out);
    }

    /** {@code np.gradient(plane, axis=axis)}: central differences inside, one-sided at the two edges. */
    static double[] gradient(double[] plane, int w, int h, int axis) {
        return gradient(plane, w, h, axis, new double[plane.length]);
    }

    /** {@link #gradient(double[], int, int, int)} into {@code out}, returned. */
    static double[] gradient(double[] plane, int w, int h, int axis, double[] out) {
        int n = axis == 0 ? h : w;
        int stride = axis == 0 ? w : 1;
        if (n < 2) {
            java.util.Arrays.fill(out, 0.0);
            return out; // NumPy refuses; the callers' images are at least one 8×8 block
        }
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int pos = axis == 0 ? y : x;
                int i = y * w + x;
                if (pos == 0) {
                    out[i] = plane[i + stride] - plane[i];
                } else if (pos == n - 1) {
                    out[i] = plane[i] - plane[i - stride];
                } else {
                    out[i] = (plane[i + stride] - plane[i - stride]) / 2;
                }
            }
        }
        return out;
    }
}
