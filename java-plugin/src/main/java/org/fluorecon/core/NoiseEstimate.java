package org.fluorecon.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/**
 * The Poisson–Gaussian noise model {@code var(y) = a·E[y] + b} of a raw image, estimated as
 * {@code fluorecon.qc.noise_estimate.estimate_noise} does (the method is described there): the
 * residual of separable second differences in 8×8 blocks, the half of the blocks with the least
 * structure, and a line through the binned (mean, variance) pairs. Blocks with equal means are
 * ordered as they come (a stable sort), as in Python.
 */
public final class NoiseEstimate {
    static final int BLOCK = 8;
    static final double KEEP_FRACTION = 0.5;
    static final int BINS = 16;
    private static final double[] KERNEL = {1 / Math.sqrt(6.0), -2 / Math.sqrt(6.0), 1 / Math.sqrt(6.0)};

    public final double a;
    public final double b;

    NoiseEstimate(double a, double b) {
        this.a = a;
        this.b = b;
    }

    /** Expected variance at intensity {@code mean}, floored at one photon's variance (float32, as in Python). */
    public double variance(double mean) {
        return (float) Math.max(a * mean + b, Math.max(a, 1e-6));
    }

    /** Estimates the model from equally sized row-major {@code w}-wide planes (pooled). */
    public static NoiseEstimate of(float[][] planes, int w) {
        int h = planes[0].length / w;
        int by = h / BLOCK;
        int bx = w / BLOCK;
        if (by == 0 || bx == 0) {
            throw new FluoreconException("Image plane " + h + "x" + w + " is smaller than one " + BLOCK + "x" + BLOCK
                    + " block; the noise cannot be estimated.");
        }
        int per = by * bx;
        int nBlocks = per * planes.length;
        double[] mean = new double[nBlocks];
        double[] var = new double[nBlocks];
        double[] struct = new double[nBlocks];
        // One set of buffers for all planes: the OOD check runs this on up to 16 windows of 512².
        double[] plane = new double[w * h];
        double[] tmp = new double[w * h];
        double[] res = new double[w * h];
        double[] smooth = new double[w * h];
        double[] gy = new double[w * h];
        double[] gx = new double[w * h];
        double[] third = {1 / 3.0, 1 / 3.0, 1 / 3.0};
        for (int p = 0; p < planes.length; p++) {
            for (int i = 0; i < plane.length; i++) {
                plane[i] = planes[p][i];
            }
            Filters.correlate(Filters.correlate(plane, w, h, KERNEL, 0, tmp), w, h, KERNEL, 1, res);
            Filters.correlate(Filters.correlate(plane, w, h, third, 0, tmp), w, h, third, 1, smooth);
            Filters.gradient(smooth, w, h, 0, gy);
            Filters.gradient(smooth, w, h, 1, gx);
            for (int j = 0; j < by; j++) {
                for (int i = 0; i < bx; i++) {
                    double s = 0;
                    double r = 0;
                    double g = 0;
                    for (int y = j * BLOCK; y < (j + 1) * BLOCK; y++) {
                        for (int x = i * BLOCK; x < (i + 1) * BLOCK; x++) {
                            int k = y * w + x;
                            s += plane[k];
                            r += res[k];
                            g += gy[k] * gy[k] + gx[k] * gx[k];
                        }
                    }
                    int n = BLOCK * BLOCK;
                    double rm = r / n;
                    double v = 0;
                    for (int y = j * BLOCK; y < (j + 1) * BLOCK; y++) {
                        for (int x = i * BLOCK; x < (i + 1) * BLOCK; x++) {
                            double d = res[y * w + x] - rm;
                            v += d * d;
                        }
                    }
                    int o = p * per + j * bx + i;
                    mean[o] = s / n;
                    var[o] = v / n;
                    struct[o] = g / n / Math.max(var[o], 1e-12);
                }
            }
        }
        // Structure relative to the median noise of blocks at a similar intensity (chunks of ~32 by mean).
        Integer[] order = new Integer[nBlocks];
        for (int i = 0; i < nBlocks; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (u, v) -> Double.compare(mean[u], mean[v])); // stable, as np.argsort(kind="stable")
        int chunks = Math.max(1, nBlocks / 32);
        double[] ref = new double[nBlocks];
        int start = 0;
        for (int c = 0; c < chunks; c++) {
            int size = nBlocks / chunks + (c < nBlocks % chunks ? 1 : 0);
            double[] vs = new double[size];
            for (int k = 0; k < size; k++) {
                vs[k] = var[order[start + k]];
            }
            double med = median(vs);
            for (int k = 0; k < size; k++) {
                ref[order[start + k]] = med;
            }
            start += size;
        }
        for (int i = 0; i < nBlocks; i++) {
            struct[i] = struct[i] * var[i] / Math.max(ref[i], 1e-12);
        }
        double cut = quantile(sorted(struct), KEEP_FRACTION);
        List<double[]> kept = new ArrayList<>();
        for (int i = 0; i < nBlocks; i++) {
            if (struct[i] <= cut) {
                kept.add(new double[] {mean[i], var[i]});
            }
        }
        double[] km = new double[kept.size()];
        double[] kv = new double[kept.size()];
        for (int i = 0; i < km.length; i++) {
            km[i] = kept.get(i)[0];
            kv[i] = kept.get(i)[1];
        }
        double[] sortedMeans = sorted(km);
        TreeSet<Double> unique = new TreeSet<>();
        for (int k = 0; k <= BINS; k++) {
            unique.add(quantile(sortedMeans, k * (1.0 / BINS)));
        }
        double[] edges = unique.stream().mapToDouble(Double::doubleValue).toArray();
        List<Double> bx2 = new ArrayList<>();
        List<Double> by2 = new ArrayList<>();
        int nb = Math.max(edges.length - 1, 1);
        List<List<Integer>> members = new ArrayList<>();
        for (int k = 0; k < nb; k++) {
            members.add(new ArrayList<>());
        }
        for (int i = 0; i < km.length; i++) {
            int idx = 0; // np.digitize(mean, edges[1:-1]): how many inner edges are <= mean
            for (int e = 1; e < edges.length - 1; e++) {
                if (edges[e] <= km[i]) {
                    idx++;
                }
            }
            members.get(Math.min(Math.max(idx, 0), nb - 1)).add(i);
        }
        for (List<Integer> sel : members) {
            if (sel.size() >= 3) {
                double[] ms = new double[sel.size()];
                double vsum = 0;
                for (int k = 0; k < ms.length; k++) {
                    ms[k] = km[sel.get(k)];
                    vsum += kv[sel.get(k)];
                }
                bx2.add(median(ms));
                by2.add(vsum / ms.length);
            }
        }
        double lo = bx2.stream().mapToDouble(Double::doubleValue).min().orElse(0);
        double hi = bx2.stream().mapToDouble(Double::doubleValue).max().orElse(0);
        if (bx2.size() < 2 || hi - lo <= 0) {
            return new NoiseEstimate(0.0, median(kv)); // a flat image: only the total variance is known
        }
        double[] line = fitLine(bx2, by2);
        return new NoiseEstimate(Math.max(line[0], 0.0), line[1]);
    }

    /** Least-squares slope and intercept (np.polyfit(x, y, 1)). */
    static double[] fitLine(List<Double> x, List<Double> y) {
        int n = x.size();
        double mx = 0;
        double my = 0;
        for (int i = 0; i < n; i++) {
            mx += x.get(i);
            my += y.get(i);
        }
        mx /= n;
        my /= n;
        double sxy = 0;
        double sxx = 0;
        for (int i = 0; i < n; i++) {
            sxy += (x.get(i) - mx) * (y.get(i) - my);
            sxx += (x.get(i) - mx) * (x.get(i) - mx);
        }
        double slope = sxy / sxx;
        return new double[] {slope, my - slope * mx};
    }

    static double[] sorted(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        return s;
    }

    static double median(double[] values) {
        return quantile(sorted(values), 0.5);
    }

    /** NumPy's linear-interpolation quantile {@code q} (0–1) of sorted values. */
    static double quantile(double[] sorted, double q) {
        int n = sorted.length;
        double rank = q * (n - 1);
        int k = Math.min((int) Math.floor(rank), n - 1);
        double v0 = sorted[k];
        double v1 = k + 1 < n ? sorted[k + 1] : v0;
        return Normalizer.lerp(v0, v1, rank - k);
    }
}
