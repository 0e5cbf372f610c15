package org.fluorecon.tasks.unmix;

import ij.ImagePlus;
import ij.gui.Roi;
import ij.process.ImageProcessor;
import java.awt.Rectangle;
import java.util.ArrayList;
import java.util.List;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;

/**
 * Reference spectra measured in ROIs on a multichannel / lambda-stack image, one ROI per label:
 * the mean of each channel over the ROI's pixels, minus {@code offset} and, optionally, minus the
 * mean spectrum of a background ROI (the last one); negative values are set to 0 and each
 * spectrum is scaled to sum 1, so an unmixed abundance is the label's total signal above
 * background (as {@code fluorecon.imaging.spectra.mixing_matrix} columns).
 *
 * <p>A ROI is measured on its own slice and frame when it has a hyperstack position (ROI Manager,
 * "Associate with slice"), else on the image's current slice and frame.
 */
public final class RoiSpectra {
    /** Channels × labels, each column summing to 1. */
    public final double[][] mixing;
    /** One name per label (the ROI's name, else roi1, roi2, …). */
    public final List<String> names;
    /** Mean spectrum of the background ROI above offset, one value per channel; null without one. */
    public final double[] background;

    private RoiSpectra(double[][] mixing, List<String> names, double[] background) {
        this.mixing = mixing;
        this.names = names;
        this.background = background;
    }

    /**
     * @param rois             one area ROI per label (then the background ROI when {@code lastIsBackground})
     * @param offset           camera offset subtracted from every channel first
     * @param lastIsBackground the last ROI marks background, not a label
     * @throws FluoreconException when a ROI is not an area, is outside the image or holds no signal
     */
    public static RoiSpectra measure(ImagePlus imp, Roi[] rois, double offset, boolean lastIsBackground) {
        int[] d = ImageConversion.dimensions(imp);
        int channels = d[0];
        if (channels < 2) {
            throw new FluoreconException("Image '" + imp.getTitle() + "' has " + channels + " channel; spectra from ROIs "
                    + "need a multichannel or lambda-stack image.");
        }
        int nLabels = (rois == null ? 0 : rois.length) - (lastIsBackground ? 1 : 0);
        if (nLabels < 1) {
            throw new FluoreconException("No ROIs to measure spectra in: draw one area ROI per label (and "
                    + (lastIsBackground ? "one more, last, on background" : "none on background")
                    + ") and add them to the ROI Manager (Ctrl+T) or the overlay (Image › Overlay › Add Selection).");
        }
        if (nLabels > channels) {
            throw new FluoreconException(nLabels + " label ROIs cannot be unmixed from " + channels
                    + " channels; draw at most one ROI per channel.");
        }
        double[] background = null;
        if (lastIsBackground) {
            background = mean(imp, rois[rois.length - 1], d, "background ROI");
            for (int c = 0; c < channels; c++) {
                background[c] -= offset;
            }
        }
        double[][] mixing = new double[channels][nLabels];
        List<String> names = new ArrayList<>();
        for (int l = 0; l < nLabels; l++) {
            String name = rois[l].getName() == null || rois[l].getName().isBlank() ? "roi" + (l + 1)
                    : rois[l].getName().trim();
            double[] spectrum = mean(imp, rois[l], d, "ROI '" + name + "'");
            double sum = 0;
            for (int c = 0; c < channels; c++) {
                spectrum[c] = Math.max(spectrum[c] - offset - (background == null ? 0 : background[c]), 0);
                sum += spectrum[c];
            }
            if (!(sum > 0)) {
                throw new FluoreconException("ROI '" + name + "' has no signal above the offset" + (background == null
                        ? "" : " and the background ROI") + "; draw it on a labelled structure or lower offset.");
            }
            for (int c = 0; c < channels; c++) {
                mixing[c][l] = spectrum[c] / sum;
            }
            names.add(name);
        }
        return new RoiSpectra(mixing, names, background);
    }

    /** Mean of each channel over the ROI's pixels, on the ROI's (or the image's current) slice and frame. */
    static double[] mean(ImagePlus imp, Roi roi, int[] d, String what) {
        if (roi == null || !roi.isArea()) {
            throw new FluoreconException("The " + what + " is " + (roi == null ? "missing" : "a line or point")
                    + "; spectra need area ROIs (rectangle, oval, polygon, freehand).");
        }
        int z = roi.getZPosition() > 0 ? roi.getZPosition() : (d[1] > 1 && roi.getPosition() > 0 && d[0] == 1
                ? roi.getPosition() : imp.getZ());
        int t = roi.getTPosition() > 0 ? roi.getTPosition() : imp.getT();
        z = Math.min(Math.max(z, 1), d[1]);
        t = Math.min(Math.max(t, 1), d[2]);
        Rectangle b = roi.getBounds();
        ImageProcessor mask = roi.getMask();
        int w = imp.getWidth();
        int h = imp.getHeight();
        double[] out = new double[d[0]];
        for (int c = 0; c < d[0]; c++) {
            float[] v = ImageConversion.toFloat(imp, ImageConversion.stackIndex(c, z - 1, t - 1, d[0], d[1]) + 1);
            double sum = 0;
            long n = 0;
            for (int y = Math.max(b.y, 0); y < Math.min(b.y + b.height, h); y++) {
                for (int x = Math.max(b.x, 0); x < Math.min(b.x + b.width, w); x++) {
                    if (mask == null || mask.get(x - b.x, y - b.y) != 0) {
                        sum += v[y * w + x];
                        n++;
                    }
                }
            }
            if (n == 0) {
                throw new FluoreconException("The " + what + " holds no pixels of image '" + imp.getTitle()
                        + "'; draw it inside the image.");
            }
            out[c] = sum / n;
        }
        return out;
    }
}
