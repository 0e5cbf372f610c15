package org.fluorecon.tasks.deconvolve;

import ij.ImagePlus;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageChecks;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.core.Sampling;
import org.fluorecon.server.JobSpec;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * Richardson–Lucy, RL-TV and Wiener deconvolution of an ImageJ image on the model server,
 * TrackMate style: {@link #checkInput()}, {@link #process(Progress)}, {@link #getErrorMessage()}.
 *
 * <p>The whole (hyper)stack goes up as one ImageJ TIFF (the server deconvolves each channel and
 * frame on its (Z)YX axes); the PSF is theoretical, from {@link Settings} and the image's
 * calibration, or a PSF image uploaded beside it (the job's {@code psf} part). Progress is the
 * server's; cancelling deletes the job and leaves no output.
 */
public final class DeconvolveServerJob extends ServerJob<DeconvolveServerJob> {
    /** The job's spec ({@code fluorecon.tasks.deconvolve.DeconvolveSpec}): defaults and bounds. */
    public static final JobSpec SPEC = JobSpec.of("deconvolve");
    /** The server's methods; the learned one runs here, with a model. */
    public static final List<String> METHODS = SPEC.choices("method");
    /** When RL ends: {@code discrepancy} (at the noise level, capped by the iterations) or {@code none}. */
    public static final List<String> STOPS = SPEC.choices("stop");

    /** What the user chose; the defaults are the spec's. */
    public static final class Settings {
        public String method = SPEC.string("method");
        public int iterations = SPEC.integer("num_iter");
        public String stop = SPEC.string("stop");
        public double tvLambda = SPEC.number("tv_lambda");
        public double balance = SPEC.number("balance");
        public double background = SPEC.number("background");
        public double na = SPEC.number("psf.na");
        public double wavelengthNm = SPEC.number("psf.wavelength_nm");
        public double ni = SPEC.number("psf.ni");
        public double ns = SPEC.number("psf.ns");
    }

    private final ImagePlus psfImage;
    private final Settings settings;

    /**
     * @param input    image to deconvolve (8-, 16- or 32-bit, any hyperstack)
     * @param psfImage measured PSF, or null for a theoretical one
     */
    public DeconvolveServerJob(ImagePlus input, ImagePlus psfImage, Settings settings, ServerClient client) {
        super(client, "Deconvolution", input, "Image", "an image");
        this.psfImage = psfImage;
        this.settings = settings;
    }

    @Override
    protected Map<String, Object> spec() {
        if (!METHODS.contains(settings.method)) {
            throw new FluoreconException("method = '" + settings.method + "' is not a server method; use one of "
                    + METHODS + " (or learned with a model).");
        }
        SPEC.checkRange("num_iter", "iterations", settings.iterations, "");
        if (!STOPS.contains(settings.stop)) {
            throw new FluoreconException("stop = '" + settings.stop + "' is not known; use one of " + STOPS
                    + " (discrepancy: end when the residual reaches the noise level).");
        }
        if (!(settings.tvLambda >= 0 && settings.tvLambda < 1)) {
            throw new FluoreconException("lambda = " + settings.tvLambda + " is out of range; use 0 ≤ λ < 1 "
                    + "(0.002 is a good start).");
        }
        if (!(settings.balance > 0 && settings.balance <= 1e6)) {
            throw new FluoreconException("balance = " + settings.balance + " is out of range; use 0 < balance ≤ 1e6 "
                    + "(Wiener's regularisation; 0.01 is a good start, larger is smoother).");
        }
        if (!(settings.background >= 0)) {
            throw new FluoreconException("background = " + settings.background + " is negative; give the camera "
                    + "offset + background in image units, or 0.");
        }
        int nz = ImageConversion.dimensions(input)[1];
        Map<String, Object> spec = Json.object("task", "deconvolve", "method", settings.method,
                "num_iter", settings.iterations, "stop", settings.stop, "tv_lambda", settings.tvLambda, "balance", settings.balance,
                "background", settings.background);
        if (psfImage != null) {
            ImageChecks.checkType(psfImage, "PSF image");
            return spec; // sampling of both images travels in their TIFF calibration
        }
        Sampling.checkOptics(settings.na, settings.ni, settings.wavelengthNm);
        Map<String, Object> psf = Json.object("na", settings.na, "wavelength_nm", settings.wavelengthNm,
                "ni", settings.ni, "ns", settings.ns,
                "pixel_size_nm", Sampling.requirePixelNm(input, "a theoretical PSF"));
        if (nz > 1) {
            psf.put("z_step_nm", Sampling.requireZStepNm(input, "a theoretical PSF"));
        }
        spec.put("psf", psf);
        return spec;
    }

    @Override
    protected ImagePlus uploadPsf() {
        return psfImage;
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        int[] d = ImageConversion.dimensions(input);
        checkResultSize(out, input.getWidth(), input.getHeight(), input.getStackSize(), "the input's");
        out.setDimensions(d[0], d[1], d[2]);
        if (d[0] > 1 || d[2] > 1) {
            out.setOpenAsHyperStack(true);
        }
        out.setCalibration(inputCalibration());
        out.setTitle(input.getShortTitle() + "-deconvolved");
        return withInfo(out, info());
    }

    /** Provenance for the output's Info, with where RL stopped ({@link #stopMessage()}) when it says. */
    public String info() {
        String stop = stopMessage();
        return provenance("Deconvolve", "deconvolve", "deconvolve.method = " + settings.method,
                "deconvolve.psf = " + (psfImage == null ? "theoretical" : "image '" + psfImage.getTitle() + "'"),
                "deconvolve.stop = " + (stop == null ? settings.stop : stop));
    }

    /**
     * Where the server's RL ended, e.g. "stopped at iteration 6 of 20: the residual reached the noise level
     * (discrepancy principle; …)" — the job's closing message; null before a run or for Wiener.
     */
    public String stopMessage() {
        String message = job.getMessage();
        return message != null && message.startsWith("Done: ") ? message.substring(6).replaceAll("\\.$", "") : null;
    }
}
