package org.fluorecon.tasks.lightfield;

import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;

/**
 * A calibrated lenslet grid on a raw light-field image (the JSON of {@code fluorecon lightfield
 * calibrate}, {@code fluorecon.tasks.lightfield_calibration.LensletGrid}) and the rectification
 * it defines: bilinear resampling onto {@code nnum} pixels per lenslet, the same sampling as the
 * Python {@code rectify(image, grid)} ({@code scipy.ndimage.map_coordinates}, order 1, edge
 * values repeated outside the image).
 */
public final class LensletGrid {
    public final double pitchPx;
    public final double rotationDeg;
    public final double originY;
    public final double originX;
    public final int rows;
    public final int columns;
    public final int nnum;
    public final int imageHeight;
    public final int imageWidth;

    public LensletGrid(double pitchPx, double rotationDeg, double originY, double originX, int rows, int columns,
                       int nnum, int imageHeight, int imageWidth) {
        if (!(pitchPx > 1) || rows < 1 || columns < 1 || nnum < 3 || nnum % 2 == 0) {
            throw new FluoreconException("The calibration is not valid (pitch " + pitchPx + " px, " + rows + "x"
                    + columns + " lenslets, nnum " + nnum + "); calibrate again from a white image.");
        }
        this.pitchPx = pitchPx;
        this.rotationDeg = rotationDeg;
        this.originY = originY;
        this.originX = originX;
        this.rows = rows;
        this.columns = columns;
        this.nnum = nnum;
        this.imageHeight = imageHeight;
        this.imageWidth = imageWidth;
    }

    /** The grid from the calibration JSON, already parsed into a map (keys as the Python model's fields). */
    public static LensletGrid fromMap(Map<String, Object> m) {
        try {
            List<?> origin = (List<?>) m.get("origin_yx_px");
            List<?> lenslets = (List<?>) m.get("n_lenslets");
            List<?> shape = (List<?>) m.get("image_shape");
            return new LensletGrid(num(m.get("pitch_px")), num(m.get("rotation_deg")), num(origin.get(0)),
                    num(origin.get(1)), (int) num(lenslets.get(0)), (int) num(lenslets.get(1)), (int) num(m.get("nnum")),
                    (int) num(shape.get(0)), (int) num(shape.get(1)));
        } catch (RuntimeException e) {
            if (e instanceof FluoreconException) {
                throw e;
            }
            throw new FluoreconException("The calibration file is not a fluorecon lenslet grid (needs pitch_px, "
                    + "rotation_deg, origin_yx_px, n_lenslets, nnum, image_shape): " + e.getMessage(), e);
        }
    }

    private static double num(Object o) {
        if (!(o instanceof Number)) {
            throw new FluoreconException("expected a number, got " + o);
        }
        return ((Number) o).doubleValue();
    }

    public int rectifiedHeight() {
        return rows * nnum;
    }

    public int rectifiedWidth() {
        return columns * nnum;
    }

    /**
     * Resamples a raw image ({@code imageHeight × imageWidth}, row-major) onto the rectified grid
     * ({@code rows·nnum × columns·nnum}); lenslet (i, j)'s centre lands on pixel
     * {@code (i·nnum + nnum/2, j·nnum + nnum/2)}.
     */
    public float[] rectify(float[] raw, int width, int height) {
        if (width != imageWidth || height != imageHeight) {
            throw new FluoreconException("The image is " + width + "x" + height + " pixels but the calibration is for "
                    + imageWidth + "x" + imageHeight + " images; calibrate with a white image from the same camera "
                    + "settings.");
        }
        int ny = rectifiedHeight();
        int nx = rectifiedWidth();
        double t = Math.toRadians(rotationDeg);
        double sin = Math.sin(t);
        double cos = Math.cos(t);
        double half = (nnum - 1) / 2.0;
        float[] out = new float[ny * nx];
        for (int r = 0; r < ny; r++) {
            double si = r / nnum + (r % nnum - half) / nnum;
            for (int c = 0; c < nx; c++) {
                double sj = c / nnum + (c % nnum - half) / nnum;
                double y = originY + pitchPx * (sj * sin + si * cos);
                double x = originX + pitchPx * (sj * cos - si * sin);
                out[r * nx + c] = (float) bilinear(raw, width, height, y, x);
            }
        }
        return out;
    }

    private static double bilinear(float[] img, int w, int h, double y, double x) {
        int y0 = (int) Math.floor(y);
        int x0 = (int) Math.floor(x);
        double fy = y - y0;
        double fx = x - x0;
        int ya = clamp(y0, h);
        int yb = clamp(y0 + 1, h);
        int xa = clamp(x0, w);
        int xb = clamp(x0 + 1, w);
        double top = (1 - fx) * img[ya * w + xa] + fx * img[ya * w + xb];
        double bottom = (1 - fx) * img[yb * w + xa] + fx * img[yb * w + xb];
        return (1 - fy) * top + fy * bottom;
    }

    private static int clamp(int i, int n) {
        return i < 0 ? 0 : (i >= n ? n - 1 : i);
    }
}
