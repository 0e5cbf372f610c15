package org.fluorecon.server;

import ij.ImagePlus;
import ij.measure.Calibration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.core.Progress;
import org.fluorecon.core.Version;

/**
 * Richardson–Lucy, RL-TV and Wiener deconvolution of an ImageJ image on the model server,
 * TrackMate style: {@link #checkInput()}, {@link #process(Progress)}, {@link #getErrorMessage()}.
 *
 * <p>The whole (hyper)stack goes up as one ImageJ TIFF (the server deconvolves each channel and
 * frame on its (Z)YX axes); the PSF is theoretical, from {@link Settings} and the image's
 * calibration, or a PSF image uploaded beside it (the job's {@code psf} part). Progress is the
 * server's; cancelling deletes the job and leaves no output.
 */
public final class RemoteDeconvolution extends RemoteTask<RemoteDeconvolution> {
    public static final List<String> METHODS = List.of("rl", "rl-accel", "rltv", "wiener");

    /** What the user chose; names as in {@code fluorecon.tasks.deconvolve.DeconvolveSpec}. */
    public static final class Settings {
        public String method = "rl-accel";
        public int iterations = 20;
        public double tvLambda = 0.002;
        public double balance = 0.01;
        public double background = 0;
        public double na = 1.4;
        public double wavelengthNm = 520;
        public double ni = 1.515;
        public double ns = 1.33;
    }

    private final ImagePlus input;
    private final ImagePlus psfImage;
    private final Settings settings;

    /**
     * @param input    image to deconvolve (8-, 16- or 32-bit, any hyperstack)
     * @param psfImage measured PSF, or null for a theoretical one
     */
    public RemoteDeconvolution(ImagePlus input, ImagePlus psfImage, Settings settings, ServerClient client) {
        super(client, "Deconvolution");
        this.input = input;
        this.psfImage = psfImage;
        this.settings = settings;
    }

    @Override
    Map<String, Object> spec() {
        if (input == null) {
            throw new FluoreconException("No image is open; open an image first.");
        }
        checkImage(input, "Image");
        if (!METHODS.contains(settings.method)) {
            throw new FluoreconException("method = '" + settings.method + "' is not a server method; use one of "
                    + METHODS + " (or learned with a model).");
        }
        if (settings.iterations < 1 || settings.iterations > 1000) {
            throw new FluoreconException("iterations = " + settings.iterations + " is out of range; use 1 to 1000.");
        }
        if (!(settings.tvLambda >= 0 && settings.tvLambda < 1)) {
            throw new FluoreconException("lambda = " + settings.tvLambda + " is out of range; use 0 ≤ λ < 1 "
                    + "(0.002 is a good start).");
        }
        if (!(settings.background >= 0)) {
            throw new FluoreconException("background = " + settings.background + " is negative; give the camera "
                    + "offset + background in image units, or 0.");
        }
        int nz = ImageConversion.dimensions(input)[1];
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("task", "deconvolve");
        spec.put("method", settings.method);
        spec.put("num_iter", settings.iterations);
        spec.put("tv_lambda", settings.tvLambda);
        spec.put("balance", settings.balance);
        spec.put("background", settings.background);
        Calibration cal = input.getCalibration();
        double pixel = toNm(cal.pixelWidth, cal.getUnit());
        double zStep = toNm(cal.pixelDepth, cal.getZUnit());
        if (psfImage != null) {
            checkImage(psfImage, "PSF image");
            return spec; // sampling of both images travels in their TIFF calibration
        }
        if (!(settings.na > 0 && settings.na < settings.ni)) {
            throw new FluoreconException("na = " + settings.na + " must be positive and below the immersion index ni = "
                    + settings.ni + ".");
        }
        if (!(settings.wavelengthNm > 200 && settings.wavelengthNm < 2000)) {
            throw new FluoreconException("wavelength_nm = " + settings.wavelengthNm + " is not an emission wavelength; "
                    + "give it in nm, e.g. 520.");
        }
        if (Double.isNaN(pixel)) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has no pixel size (unit '" + cal.getUnit()
                    + "'); set it in Image › Properties… (e.g. 0.065 micron) for a theoretical PSF.");
        }
        Map<String, Object> psf = new LinkedHashMap<>();
        psf.put("na", settings.na);
        psf.put("wavelength_nm", settings.wavelengthNm);
        psf.put("ni", settings.ni);
        psf.put("ns", settings.ns);
        psf.put("pixel_size_nm", pixel);
        if (nz > 1) {
            if (Double.isNaN(zStep)) {
                throw new FluoreconException("Image '" + input.getTitle() + "' is a z-stack without a z step; set "
                        + "'Voxel depth' in Image › Properties… first.");
            }
            psf.put("z_step_nm", zStep);
        }
        spec.put("psf", psf);
        return spec;
    }

    static void checkImage(ImagePlus imp, String what) {
        int bits = imp.getBitDepth();
        if (bits == 24) {
            throw new FluoreconException(what + " '" + imp.getTitle() + "' is RGB; convert it with Image › Type › "
                    + "32-bit first.");
        }
        if (bits != 8 && bits != 16 && bits != 32) {
            throw new FluoreconException(what + " '" + imp.getTitle() + "' is " + bits + "-bit; convert it with "
                    + "Image › Type › 32-bit first.");
        }
    }

    /** A length in {@code unit} as nm; NaN for an unknown unit (e.g. uncalibrated "pixel"). */
    public static double toNm(double value, String unit) {
        if (unit == null || !(value > 0)) {
            return Double.NaN;
        }
        switch (unit.trim().toLowerCase(Locale.ROOT)) {
            case "nm": case "nanometer": case "nanometers": case "nanometre":
                return value;
            case "micron": case "microns": case "um": case "µm": case "\u03bcm": case "micrometer":
            case "micrometers": case "micrometre":
                return value * 1000;
            case "mm": case "millimeter": case "millimetre":
                return value * 1e6;
            case "cm": case "centimeter": case "centimetre":
                return value * 1e7;
            case "inch": case "inches": case "in":
                return value * 25.4e6;
            case "\u00c5": case "a": case "angstrom":
                return value * 0.1;
            default:
                return Double.NaN;
        }
    }

    @Override
    ImagePlus upload() {
        return input;
    }

    @Override
    ImagePlus uploadPsf() {
        return psfImage;
    }

    @Override
    ImagePlus finish(ImagePlus out) {
        int[] d = ImageConversion.dimensions(input);
        if (out.getStackSize() != input.getStackSize() || out.getWidth() != input.getWidth()
                || out.getHeight() != input.getHeight()) {
            throw new FluoreconException("The server's result is " + out.getWidth() + "x" + out.getHeight() + "x"
                    + out.getStackSize() + ", not the input's " + input.getWidth() + "x" + input.getHeight() + "x"
                    + input.getStackSize() + ".");
        }
        out.setDimensions(d[0], d[1], d[2]);
        if (d[0] > 1 || d[2] > 1) {
            out.setOpenAsHyperStack(true);
        }
        Calibration cal = input.getCalibration().copy();
        cal.disableDensityCalibration();
        out.setCalibration(cal);
        out.setTitle(input.getShortTitle() + "-deconvolved");
        String serverInfo = out.getInfoProperty();
        out.setProperty("Info", info() + (serverInfo == null ? "" : "server.info = " + serverInfo.trim() + "\n"));
        out.getProcessor().resetMinAndMax();
        return out;
    }

    /** Provenance for the output's Info. */
    public String info() {
        StringBuilder sb = new StringBuilder();
        sb.append("fluorecon.command = Deconvolve\n");
        sb.append("fluorecon.version = ").append(Version.get()).append('\n');
        sb.append("deconvolve.method = ").append(settings.method).append('\n');
        sb.append("deconvolve.spec = ").append(specJson).append('\n');
        sb.append("deconvolve.psf = ").append(psfImage == null ? "theoretical" : "image '" + psfImage.getTitle() + "'")
                .append('\n');
        sb.append("server.url = ").append(job.url()).append('\n');
        sb.append("server.version = ").append(job.getServerVersion()).append('\n');
        sb.append("server.job = ").append(job.getJobId()).append('\n');
        sb.append("input.title = ").append(input.getTitle()).append('\n');
        return sb.toString();
    }
}
