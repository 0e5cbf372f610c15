package org.fluorecon.tasks.lightfield;

import org.fluorecon.core.Block;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.TiledInference;

/**
 * Sub-aperture views of a rectified light field as channels, the input of a learned light-field
 * model: {@code views[v*nnum + u][i*nx + j] = lf[(i*nnum + v)*width + j*nnum + u]}, the same as
 * {@code fluorecon.tasks.lightfield_learned.views_as_channels} (shared vector
 * {@code tests/vectors/lightfield_views.json}).
 */
public final class LightFieldViews {
    private LightFieldViews() {
    }

    /** Refuses anything but whole {@code nnum × nnum} lenslets, in words a user can act on. */
    public static void checkShape(int width, int height, int nnum) {
        if (nnum < 3 || nnum % 2 == 0) {
            throw new FluoreconException("nnum = " + nnum + ": pixels per lenslet must be odd and at least 3.");
        }
        if (width % nnum != 0 || height % nnum != 0 || width < nnum || height < nnum) {
            throw new FluoreconException("Light field " + width + "x" + height + " is not a whole number of " + nnum
                    + "x" + nnum + " lenslets; rectify it first (calibrate on a white image, then reconstruct with "
                    + "the calibration), or crop it to a multiple of " + nnum + " pixels.");
        }
    }

    /**
     * The views of {@code lf} (row-major {@code height × width}) as {@code nnum²} planes of
     * {@code (height/nnum) × (width/nnum)}.
     */
    public static float[][] toChannels(float[] lf, int width, int height, int nnum) {
        checkShape(width, height, nnum);
        if (lf.length != width * height) {
            throw new IllegalArgumentException("light field has " + lf.length + " values, not " + width + "x" + height);
        }
        int ny = height / nnum;
        int nx = width / nnum;
        float[][] views = new float[nnum * nnum][ny * nx];
        for (int i = 0; i < ny; i++) {
            for (int v = 0; v < nnum; v++) {
                int row = (i * nnum + v) * width;
                for (int j = 0; j < nx; j++) {
                    int base = row + j * nnum;
                    int dst = i * nx + j;
                    for (int u = 0; u < nnum; u++) {
                        views[v * nnum + u][dst] = lf[base + u];
                    }
                }
            }
        }
        return views;
    }

    /** The views as a (nnum², 1, height/nnum, width/nnum) {@link Block} for {@link TiledInference}. */
    public static Block block(float[] lf, int width, int height, int nnum) {
        float[][] views = toChannels(lf, width, height, nnum);
        float[][][] data = new float[views.length][][];
        for (int c = 0; c < views.length; c++) {
            data[c] = new float[][] {views[c]};
        }
        return new Block(data, 1, height / nnum, width / nnum);
    }
}
