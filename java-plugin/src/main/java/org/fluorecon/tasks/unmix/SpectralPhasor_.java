package org.fluorecon.tasks.unmix;

import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.WindowManager;
import ij.gui.Roi;
import ij.measure.Calibration;
import ij.plugin.PlugIn;
import ij.process.ByteProcessor;
import ij.process.FloatPolygon;
import ij.process.FloatProcessor;
import java.util.Locale;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.core.Version;
import org.fluorecon.ij.Commands;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.Params;

/**
 * Plugins › fluorecon › Spectral phasor…  On a lambda stack: the phasor plot as an image
 * ({@code <title>-phasor}, G, S ∈ [−1, 1], S upwards, unit circle drawn). Draw an area ROI on that
 * plot and run the command again: the mask of the pixels whose phasor falls in the ROI
 * ({@code <title>-phasor-mask}, 255 = selected; Cutrale et al. 2017). The same numbers as
 * {@code fluorecon phasor}. Macro:
 * {@code run("Spectral phasor...", "harmonic=1 offset=100 threshold=5 bins=256 log circle")}, then
 * {@code makePolygon(...); run("Spectral phasor...", "save=/path/mask.tif")}.
 */
@Menu(label = "Spectral phasor...")
public class SpectralPhasor_ implements PlugIn {
    static final String TITLE = "fluorecon Spectral phasor";
    /** ImagePlus property of a plot that links it to its image's phasors. */
    public static final String LINK = "fluorecon.phasor";

    /** What a plot remembers of the image it was made from. */
    static final class Link {
        final ImagePlus source;
        final Phasor.Result phasor;
        final double threshold;
        final int bins;
        final String settings;

        Link(ImagePlus source, Phasor.Result phasor, double threshold, int bins, String settings) {
            this.source = source;
            this.phasor = phasor;
            this.threshold = threshold;
            this.bins = bins;
            this.settings = settings;
        }
    }

    private ImagePlus image;
    private ImagePlus result;
    private double[][] roiPhasor;

    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    /** The plot (first run) or the mask (run on a plot with a ROI). */
    public ImagePlus getResult() {
        return result;
    }

    /** The last mask's ROI in phasor space: {G[], S[]} vertices; null before a mask was made. */
    public double[][] getRoiPhasor() {
        return roiPhasor;
    }

    @Override
    public void run(String arg) {
        result = null;
        try {
            ImagePlus imp = image != null ? image : WindowManager.getCurrentImage();
            if (imp == null) {
                throw new FluoreconException("No image is open; open a lambda stack (3 or more channels) first.");
            }
            Object link = imp.getProperty(LINK);
            if (link instanceof Link) {
                mask(imp, (Link) link);
            } else if (imp.getInfoProperty() != null && imp.getInfoProperty().contains("phasor.plot = true")) {
                throw new FluoreconException("Phasor plot '" + imp.getTitle() + "' has lost the link to its image (it "
                        + "was saved, reopened or duplicated); run Spectral phasor… on the lambda stack again.");
            } else {
                plot(imp);
            }
        } catch (FluoreconException e) {
            Commands.fail(TITLE, e.getMessage());
        }
    }

    private void plot(ImagePlus imp) {
        Params params = new Params(TITLE, "harmonic=1 offset=100 threshold=0 bins=256 log circle");
        params.addNumber("harmonic", 1);
        params.addDecimal("offset", 0, 1);
        params.addDecimal("threshold", 0, 2);
        params.addNumber("bins", 256);
        params.addCheckbox("log", true);
        params.addCheckbox("circle", true);
        if (!params.show()) {
            return;
        }
        int harmonic = params.nextInt("harmonic");
        double offset = params.nextDouble("offset");
        double threshold = params.nextDouble("threshold");
        int bins = params.nextInt("bins");
        boolean log = params.nextBoolean("log");
        boolean circle = params.nextBoolean("circle");
        String save = params.option("save", null);
        if (bins < 8 || bins > 4096) {
            throw new FluoreconException("bins = " + bins + " is out of range; give the plot size in pixels, 8 to 4096.");
        }
        IJ.showStatus("Spectral phasor: computing...");
        Phasor.Result phasor = Phasor.compute(imp, harmonic, offset);
        float[] pixels = Phasor.plot(phasor.g, phasor.s, phasor.intensity, threshold, bins, log, circle);
        String settings = String.format(Locale.ROOT, "harmonic=%d offset=%s threshold=%s bins=%d %s%s", harmonic,
                num(offset), num(threshold), bins, log ? "log" : "linear", circle ? " circle" : "");
        ImagePlus out = new ImagePlus(imp.getShortTitle() + "-phasor", new FloatProcessor(bins, bins, pixels));
        Calibration cal = out.getCalibration();
        // The cursor then reads G (x) and S (y) directly.
        cal.pixelWidth = cal.pixelHeight = 2.0 / bins;
        cal.xOrigin = bins / 2.0;
        cal.yOrigin = bins / 2.0;
        cal.setInvertY(true);
        cal.setUnit("phasor");
        out.setProperty("Info", "fluorecon.command = Spectral phasor\nfluorecon.version = " + Version.get() + "\n"
                + "phasor.plot = true\nphasor.settings = " + settings + "\nphasor.axes = x: G, y: S (upwards), "
                + "G = x*2/bins - 1, S = 1 - y*2/bins\ninput.title = " + imp.getTitle() + "\n");
        out.setProperty(LINK, new Link(imp, phasor, threshold, bins, settings));
        out.getProcessor().resetMinAndMax();
        Commands.save(out, save, "the phasor plot");
        result = out;
        IJ.showStatus("Spectral phasor: draw a ROI on the plot and run Spectral phasor… again for a mask");
        Commands.show(out, params);
    }

    private void mask(ImagePlus plot, Link link) {
        Params params = new Params(TITLE, "save=/path/mask.tif");
        String save = params.option("save", null);
        Roi roi = plot.getRoi();
        if (roi == null || !roi.isArea()) {
            throw new FluoreconException("Draw an area ROI (oval, polygon, freehand) on phasor plot '" + plot.getTitle()
                    + "' around the phasors to select, then run Spectral phasor… again.");
        }
        FloatPolygon polygon = roi.getFloatPolygon();
        double[][] gs = Phasor.toPhasorSpace(polygon, link.bins);
        boolean[] selected = Phasor.mask(link.phasor.g, link.phasor.s, link.phasor.intensity, link.threshold, gs[0],
                gs[1]);
        ImagePlus source = link.source;
        int[] d = ImageConversion.dimensions(source);
        int w = source.getWidth();
        int h = source.getHeight();
        ImageStack stack = new ImageStack(w, h);
        int count = 0;
        for (int p = 0; p < d[1] * d[2]; p++) {
            byte[] bytes = new byte[w * h];
            for (int i = 0; i < bytes.length; i++) {
                if (selected[p * w * h + i]) {
                    bytes[i] = (byte) 255;
                    count++;
                }
            }
            stack.addSlice("", new ByteProcessor(w, h, bytes));
        }
        ImagePlus out = new ImagePlus(source.getShortTitle() + "-phasor-mask", stack);
        out.setDimensions(1, d[1], d[2]);
        if (d[1] > 1 && d[2] > 1) {
            out.setOpenAsHyperStack(true);
        }
        Calibration cal = source.getCalibration().copy();
        cal.disableDensityCalibration();
        out.setCalibration(cal);
        StringBuilder vertices = new StringBuilder();
        for (int j = 0; j < gs[0].length; j++) {
            vertices.append(j == 0 ? "" : ";").append(gs[0][j]).append(',').append(gs[1][j]);
        }
        out.setProperty("Info", "fluorecon.command = Spectral phasor (mask)\nfluorecon.version = " + Version.get()
                + "\nphasor.settings = " + link.settings + "\nphasor.roi_gs = " + vertices
                + "\nphasor.selected = " + count + "\ninput.title = " + source.getTitle() + "\n");
        Commands.save(out, save, "the phasor mask");
        roiPhasor = gs;
        result = out;
        IJ.showStatus("Spectral phasor: " + count + " pixels selected");
        Commands.show(out, params);
    }

    private static String num(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
}
