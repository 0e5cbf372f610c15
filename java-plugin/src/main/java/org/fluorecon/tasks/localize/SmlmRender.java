package org.fluorecon.tasks.localize;

import ij.ImagePlus;
import ij.measure.Calibration;
import ij.process.FloatProcessor;
import java.util.Arrays;
import org.fluorecon.core.FluoreconException;

/**
 * Gaussian rendering of a localisation table, as {@code fluorecon.imaging.smlm.render_localizations}:
 * a histogram on a {@code ceil(H/p) x ceil(W/p)} grid, blurred by a Gaussian (zero outside,
 * truncated at 4σ as {@code scipy.ndimage.gaussian_filter}) whose σ is each localisation's
 * uncertainty (NaN → the minimum, at least the minimum), grouped into at most 8 quantile groups
 * that each use their median σ. Values are localisations per pixel.
 */
public final class SmlmRender {
    public static final double MIN_SIGMA_NM = 5.0;

    private SmlmRender() {
    }

    /**
     * The rendering of {@code t} over the field of {@code input} (camera pixels of {@code pixelNm}) as an image
     * titled {@code <input>-localizations}, calibrated in µm to {@code renderPixelNm}.
     */
    public static ImagePlus image(Localizations t, ImagePlus input, double pixelNm, double renderPixelNm) {
        int[] dims = new int[2];
        float[] px = render(t, input.getHeight() * pixelNm, input.getWidth() * pixelNm, renderPixelNm, dims);
        ImagePlus imp = new ImagePlus(input.getShortTitle() + "-localizations", new FloatProcessor(dims[1], dims[0], px));
        Calibration cal = new Calibration();
        cal.pixelWidth = renderPixelNm / 1000.0;
        cal.pixelHeight = renderPixelNm / 1000.0;
        cal.setUnit("micron");
        imp.setCalibration(cal);
        imp.getProcessor().resetMinAndMax();
        return imp;
    }

    /**
     * @param heightNm field height in nm
     * @param widthNm  field width in nm
     * @param pixelNm  rendered pixel size in nm
     * @return {@code [ny][nx]} as one row-major array, with {@code dims[0] = ny, dims[1] = nx}
     */
    public static float[] render(Localizations table, double heightNm, double widthNm, double pixelNm, int[] dims) {
        if (!(pixelNm > 0)) {
            throw new FluoreconException("render_pixel_nm = " + pixelNm + " must be positive, e.g. 10.");
        }
        int ny = (int) Math.ceil(heightNm / pixelNm);
        int nx = (int) Math.ceil(widthNm / pixelNm);
        if ((long) ny * nx > 20000L * 20000L) {
            throw new FluoreconException("Rendered image would be " + ny + "×" + nx + " pixels; use a larger "
                    + "render_pixel_nm.");
        }
        dims[0] = ny;
        dims[1] = nx;
        float[] out = new float[ny * nx];
        int n = table.size();
        if (n == 0) {
            return out;
        }
        double[] sig = new double[n];
        for (int i = 0; i < n; i++) {
            double s = table.get(Localizations.UNCERTAINTY, i);
            sig[i] = Math.max(Double.isFinite(s) ? s : MIN_SIGMA_NM, MIN_SIGMA_NM);
        }
        double[] sorted = sig.clone();
        Arrays.sort(sorted);
        double[] q = new double[7];
        for (int k = 1; k <= 7; k++) {
            q[k - 1] = sorted[(int) Math.rint((n - 1) * (k / 8.0))]; // NumPy's quantile(method="nearest")
        }
        double[] groups = Arrays.stream(q).distinct().sorted().toArray();
        int[] label = new int[n];
        for (int i = 0; i < n; i++) {
            int g = 0;
            while (g < groups.length && groups[g] < sig[i]) { // searchsorted, side="left"
                g++;
            }
            label[i] = g;
        }
        for (int g = 0; g <= groups.length; g++) {
            double[] hist = new double[ny * nx];
            double[] members = new double[n];
            int m = 0;
            for (int i = 0; i < n; i++) {
                if (label[i] != g) {
                    continue;
                }
                members[m++] = sig[i];
                int r = bin(table.get(Localizations.Y, i) / pixelNm, ny);
                int c = bin(table.get(Localizations.X, i) / pixelNm, nx);
                if (r >= 0 && c >= 0) {
                    hist[r * nx + c] += 1;
                }
            }
            if (m == 0) {
                continue;
            }
            double sigmaPx = median(Arrays.copyOf(members, m)) / pixelNm;
            double[] blurred = gaussian(hist, ny, nx, sigmaPx);
            for (int k = 0; k < out.length; k++) {
                out[k] += (float) blurred[k];
            }
        }
        return out;
    }

    /** Bin of NumPy's histogram on edges 0..n: the last edge belongs to the last bin; outside is -1. */
    static int bin(double v, int n) {
        if (!(v >= 0 && v <= n)) {
            return -1;
        }
        return v == n ? n - 1 : (int) Math.floor(v);
    }

    static double median(double[] v) {
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    /** {@code scipy.ndimage.gaussian_filter(image, sigma, mode="constant")}, truncate 4, rows then columns. */
    static double[] gaussian(double[] image, int ny, int nx, double sigma) {
        int radius = (int) (4.0 * sigma + 0.5);
        double[] w = new double[2 * radius + 1];
        double sum = 0;
        for (int k = -radius; k <= radius; k++) {
            w[k + radius] = Math.exp(-0.5 / (sigma * sigma) * k * k);
            sum += w[k + radius];
        }
        for (int k = 0; k < w.length; k++) {
            w[k] /= sum;
        }
        double[] tmp = new double[image.length];
        for (int r = 0; r < ny; r++) { // along y (axis 0)
            for (int c = 0; c < nx; c++) {
                double acc = 0;
                for (int k = -radius; k <= radius; k++) {
                    int rr = r + k;
                    if (rr >= 0 && rr < ny) {
                        acc += w[k + radius] * image[rr * nx + c];
                    }
                }
                tmp[r * nx + c] = acc;
            }
        }
        double[] out = new double[image.length];
        for (int r = 0; r < ny; r++) { // along x (axis 1)
            int row = r * nx;
            for (int c = 0; c < nx; c++) {
                double acc = 0;
                for (int k = -radius; k <= radius; k++) {
                    int cc = c + k;
                    if (cc >= 0 && cc < nx) {
                        acc += w[k + radius] * tmp[row + cc];
                    }
                }
                out[row + c] = acc;
            }
        }
        return out;
    }
}
