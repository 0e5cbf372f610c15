package org.fluorecon.tasks.unmix;

import ij.ImagePlus;
import ij.process.FloatPolygon;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;

/**
 * Spectral phasors (Cutrale et al., Nat. Methods 14, 149 (2017)) exactly as
 * {@code fluorecon.tasks.unmix.phasor / phasor_plot / phasor_mask} compute them, so a Fiji plot and
 * mask equal {@code fluorecon phasor}'s (shared vector {@code tests/vectors/phasor.json}).
 *
 * <p>Per pixel, over the N channels k = 0..N−1 at harmonic n (float32, as NumPy):
 * {@code G = Σ I_k cos(2πnk/N) / Σ I_k}, {@code S = Σ I_k sin(2πnk/N) / Σ I_k}, with
 * {@code I_k = value − offset}; G, S are NaN where {@code Σ I_k ≤ 0}; intensity = {@code Σ I_k / N}.
 * The plot is a {@code bins × bins} 2D histogram over G, S ∈ [−1, 1] with S upwards; a plot pixel
 * (column, row) has its centre at {@code G = (column + ½)·2/bins − 1}, {@code S = 1 − (row + ½)·2/bins},
 * which is also how an ImageJ ROI's coordinates (pixel edges at integers) map to (G, S).
 */
public final class Phasor {
    /** Per-pixel phasor of an image: arrays of width·height·planes values, planes in (t, z) order. */
    public static final class Result {
        public final float[] g;
        public final float[] s;
        public final float[] intensity;

        Result(float[] g, float[] s, float[] intensity) {
            this.g = g;
            this.s = s;
            this.intensity = intensity;
        }
    }

    private Phasor() {
    }

    /**
     * Phasor of channel-major data: {@code channels[k][i]} is channel k at pixel i.
     *
     * @throws FluoreconException with fewer than 3 channels or a harmonic below 1
     */
    public static Result compute(float[][] channels, int harmonic, double offset) {
        int n = channels.length;
        if (n < 3) {
            throw new FluoreconException("A phasor needs at least 3 spectral channels, the image has " + n + ".");
        }
        if (harmonic < 1) {
            throw new FluoreconException("harmonic = " + harmonic + "; give 1 or more.");
        }
        float[] cos = new float[n];
        float[] sin = new float[n];
        for (int k = 0; k < n; k++) {
            double angle = 2 * Math.PI * harmonic * (double) k / n;
            cos[k] = (float) Math.cos(angle);
            sin[k] = (float) Math.sin(angle);
        }
        int size = channels[0].length;
        float off = (float) offset;
        float[] g = new float[size];
        float[] s = new float[size];
        float[] intensity = new float[size];
        for (int i = 0; i < size; i++) {
            float total = 0f;
            double gc = 0;
            double sc = 0;
            for (int k = 0; k < n; k++) {
                float v = channels[k][i] - off;
                total += v; // float32, channel by channel, as NumPy's sum over the channel axis
                gc += (double) cos[k] * v;
                sc += (double) sin[k] * v;
            }
            if (total > 0) {
                g[i] = (float) gc / total;
                s[i] = (float) sc / total;
            } else {
                g[i] = Float.NaN;
                s[i] = Float.NaN;
            }
            intensity[i] = total / n;
        }
        return new Result(g, s, intensity);
    }

    /**
     * Phasor of every pixel of a hyperstack (all slices and frames); the channel axis is the spectrum.
     *
     * @throws FluoreconException for RGB images or fewer than 3 channels
     */
    public static Result compute(ImagePlus imp, int harmonic, double offset) {
        if (imp.getBitDepth() == 24) {
            throw new FluoreconException("Image '" + imp.getTitle() + "' is RGB; convert it with Image › Type › 32-bit "
                    + "first.");
        }
        int[] d = ImageConversion.dimensions(imp);
        if (d[0] < 3) {
            throw new FluoreconException("Image '" + imp.getTitle() + "' has " + d[0] + " channel(s); a spectral phasor "
                    + "needs a lambda stack with 3 or more channels (Image › Hyperstacks › Stack to Hyperstack…).");
        }
        int plane = imp.getWidth() * imp.getHeight();
        float[][] channels = new float[d[0]][plane * d[1] * d[2]];
        for (int t = 0; t < d[2]; t++) {
            for (int z = 0; z < d[1]; z++) {
                int base = (t * d[1] + z) * plane;
                for (int c = 0; c < d[0]; c++) {
                    float[] v = ImageConversion.toFloat(imp, ImageConversion.stackIndex(c, z, t, d[0], d[1]) + 1);
                    System.arraycopy(v, 0, channels[c], base, plane);
                }
            }
        }
        return compute(channels, harmonic, offset);
    }

    /** Plot row of S (float, pixel centres at integers). */
    public static double row(double s, int bins) {
        return (1 - s) / 2 * bins - 0.5;
    }

    /** Plot column of G (float, pixel centres at integers). */
    public static double column(double g, int bins) {
        return (g + 1) / 2 * bins - 0.5;
    }

    /** G of an ImageJ x coordinate on the plot (pixel edges at integers). */
    public static double gOfX(double x, int bins) {
        return x * 2 / bins - 1;
    }

    /** S of an ImageJ y coordinate on the plot (pixel edges at integers). */
    public static double sOfY(double y, int bins) {
        return 1 - y * 2 / bins;
    }

    /** NumPy histogram bin of {@code v} for edges −½, ½, …, bins − ½ (last edge inclusive); −1 outside. */
    static int bin(double v, int bins) {
        if (!(v >= -0.5) || v > bins - 0.5) {
            return -1;
        }
        int i = (int) Math.floor(v + 0.5);
        while (i > 0 && -0.5 + i > v) {
            i--;
        }
        while (i < bins && -0.5 + (i + 1) <= v) {
            i++;
        }
        return Math.min(i, bins - 1);
    }

    /**
     * The phasor plot, row-major {@code bins × bins} (row 0 = S = 1): counts of the pixels whose
     * intensity is above {@code threshold}, as {@code log(1 + count)} with {@code log}; with
     * {@code circle}, the unit circle drawn at half the maximum (at least 0.5).
     */
    public static float[] plot(float[] g, float[] s, float[] intensity, double threshold, int bins, boolean log,
                               boolean circle) {
        if (bins < 2) {
            throw new FluoreconException("bins = " + bins + "; give the plot size in pixels, e.g. 256.");
        }
        double[] hist = new double[bins * bins];
        for (int i = 0; i < g.length; i++) {
            if (Float.isNaN(g[i]) || Float.isNaN(s[i]) || Float.isInfinite(g[i]) || Float.isInfinite(s[i])) {
                continue;
            }
            if (intensity != null && !(intensity[i] > threshold)) {
                continue;
            }
            int r = bin(row(s[i], bins), bins);
            int c = bin(column(g[i], bins), bins);
            if (r >= 0 && c >= 0) {
                hist[r * bins + c] += 1;
            }
        }
        double max = 0;
        for (int i = 0; i < hist.length; i++) {
            if (log) {
                hist[i] = Math.log1p(hist[i]);
            }
            max = Math.max(max, hist[i]);
        }
        if (circle) {
            double level = 0.5 * Math.max(max, 1.0);
            int num = 8 * bins;
            double step = 2 * Math.PI / (num - 1); // np.linspace(0, 2π, 8·bins)
            for (int i = 0; i < num; i++) {
                double theta = i == num - 1 ? 2 * Math.PI : i * step;
                int r = clip((int) Math.rint(row(Math.sin(theta), bins)), bins);
                int c = clip((int) Math.rint(column(Math.cos(theta), bins)), bins);
                hist[r * bins + c] = Math.max(hist[r * bins + c], level);
            }
        }
        float[] out = new float[hist.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) hist[i];
        }
        return out;
    }

    private static int clip(int v, int bins) {
        return Math.max(0, Math.min(bins - 1, v));
    }

    /**
     * Pixels whose phasor lies inside the polygon {@code (polyG[j], polyS[j])} (even–odd rule, as
     * matplotlib's {@code Path.contains_points}) and whose intensity is above {@code threshold}.
     */
    public static boolean[] mask(float[] g, float[] s, float[] intensity, double threshold, double[] polyG,
                                 double[] polyS) {
        if (polyG.length < 3 || polyG.length != polyS.length) {
            throw new FluoreconException("A phasor selection needs an area ROI (3 or more vertices) on the phasor plot.");
        }
        boolean[] out = new boolean[g.length];
        int n = polyG.length;
        for (int i = 0; i < g.length; i++) {
            double x = g[i];
            double y = s[i];
            if (Double.isNaN(x) || Double.isNaN(y) || (intensity != null && !(intensity[i] > threshold))) {
                continue;
            }
            boolean inside = false;
            for (int a = 0, b = n - 1; a < n; b = a++) {
                if ((polyS[a] > y) != (polyS[b] > y)
                        && x < (polyG[b] - polyG[a]) * (y - polyS[a]) / (polyS[b] - polyS[a]) + polyG[a]) {
                    inside = !inside;
                }
            }
            out[i] = inside;
        }
        return out;
    }

    /** An ImageJ ROI polygon on a {@code bins}-pixel plot as phasor-space vertices {G[], S[]}. */
    public static double[][] toPhasorSpace(FloatPolygon polygon, int bins) {
        double[][] gs = new double[2][polygon.npoints];
        for (int j = 0; j < polygon.npoints; j++) {
            gs[0][j] = gOfX(polygon.xpoints[j], bins);
            gs[1][j] = sOfY(polygon.ypoints[j], bins);
        }
        return gs;
    }
}
