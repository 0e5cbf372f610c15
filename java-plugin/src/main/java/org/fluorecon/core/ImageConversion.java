package org.fluorecon.core;

import ij.ImagePlus;
import ij.ImageStack;
import ij.measure.Calibration;

/**
 * ImagePlus &lt;-&gt; float blocks. 32-bit slices are used as they are (no copy); 8- and 16-bit
 * slices are converted to float one block at a time, so at most one block is duplicated.
 */
public final class ImageConversion {

    private ImageConversion() {
    }

    /** Hyperstack dimensions {channels, slices, frames}; a stack that is no hyperstack is a z-stack. */
    public static int[] dimensions(ImagePlus imp) {
        int c = imp.getNChannels();
        int z = imp.getNSlices();
        int t = imp.getNFrames();
        int n = imp.getStackSize();
        if (c * z * t != n) {
            return new int[] {1, n, 1};
        }
        return new int[] {c, z, t};
    }

    /** 0-based stack index of (channel, slice, frame) in ImageJ's CZT order. */
    public static int stackIndex(int c, int z, int t, int nC, int nZ) {
        return c + z * nC + t * nC * nZ;
    }

    /**
     * Float values of one slice (1-based {@code n}); the slice's own array when it is 32-bit.
     * Signed 16-bit images (ImageJ's calibration offset) are shifted to their signed values.
     */
    public static float[] toFloat(ImagePlus imp, int n) {
        Object pixels = imp.getStack().getPixels(n);
        float offset = imp.getCalibration().isSigned16Bit() ? -32768f : 0f;
        return toFloat(pixels, offset);
    }

    /** Float values of an ImageJ pixel array (byte[], short[] or float[]). */
    public static float[] toFloat(Object pixels, float offset) {
        if (pixels instanceof float[]) {
            return (float[]) pixels;
        }
        if (pixels instanceof byte[]) {
            byte[] b = (byte[]) pixels;
            float[] out = new float[b.length];
            for (int i = 0; i < b.length; i++) {
                out[i] = (b[i] & 0xff) + offset;
            }
            return out;
        }
        if (pixels instanceof short[]) {
            short[] s = (short[]) pixels;
            float[] out = new float[s.length];
            for (int i = 0; i < s.length; i++) {
                out[i] = (s[i] & 0xffff) + offset;
            }
            return out;
        }
        throw new FluoreconException("Pixels of type "
                + (pixels == null ? "null" : pixels.getClass().getSimpleName())
                + " are not supported; convert the image with Image › Type › 32-bit first.");
    }

    /**
     * One block for prediction: channel {@code c} of frame {@code t}, either one plane
     * ({@code z >= 0}) or the whole z-stack ({@code z < 0}).
     */
    public static Block block(ImagePlus imp, int c, int z, int t) {
        int[] d = dimensions(imp);
        int z0 = z < 0 ? 0 : z;
        int nz = z < 0 ? d[1] : 1;
        float[][][] data = new float[1][nz][];
        for (int k = 0; k < nz; k++) {
            data[0][k] = toFloat(imp, stackIndex(c, z0 + k, t, d[0], d[1]) + 1);
        }
        return new Block(data, nz, imp.getHeight(), imp.getWidth());
    }

    /**
     * Builds a 32-bit hyperstack from planes in CZT order.
     *
     * @param planes   {@code planes[stackIndex(c, z, t)]}, each {@code width * height}
     * @param template image whose calibration is copied, divided by {@code scale} (x, y, z)
     */
    public static ImagePlus toImagePlus(String title, float[][] planes, int width, int height, int nC, int nZ, int nT,
                                        ImagePlus template, int[] scaleXYZ, String[] labels) {
        if (planes.length != nC * nZ * nT) {
            throw new IllegalArgumentException(planes.length + " planes for " + nC + "x" + nZ + "x" + nT);
        }
        ImageStack stack = new ImageStack(width, height);
        for (int i = 0; i < planes.length; i++) {
            stack.addSlice(labels == null ? null : labels[i], planes[i]);
        }
        ImagePlus out = new ImagePlus(title, stack);
        out.setDimensions(nC, nZ, nT);
        if (nC > 1 || nT > 1) {
            out.setOpenAsHyperStack(true);
        }
        if (template != null) {
            Calibration cal = template.getCalibration().copy();
            cal.disableDensityCalibration();
            cal.pixelWidth /= scaleXYZ[0];
            cal.pixelHeight /= scaleXYZ[1];
            cal.pixelDepth /= scaleXYZ[2];
            cal.xOrigin *= scaleXYZ[0];
            cal.yOrigin *= scaleXYZ[1];
            cal.zOrigin *= scaleXYZ[2];
            out.setCalibration(cal);
        }
        out.getProcessor().resetMinAndMax();
        return out;
    }
}
