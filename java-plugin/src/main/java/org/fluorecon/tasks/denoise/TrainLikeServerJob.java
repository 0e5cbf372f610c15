package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import ij.measure.Calibration;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.server.JobSpec;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;

/**
 * Train for my microscope, on the model server (job task {@code train-like}, python
 * fluorecon.tasks.denoise.job_like): the training simulation is fitted to the current channel's raw Z or T stack
 * (or its one plane): pixel size, camera gain/offset/read noise from every plane unless the camera's calibration is
 * given; light level and the nearest phantom structure from {@code plane}, default the brightest, chosen on the
 * server as {@code --like} chooses it; NA and wavelength given)
 * and a shipped model fine-tuned on it ({@code model_task}: the CARE denoiser, the learned deconvolution or the
 * ×2 upsampling model). As every {@link TrainServerJob}, the model is installed in the plugin's models folder
 * (Denoise…, Deconvolve… and Super-resolve… list it); the result is the plane fitted to, restored by it
 * (upsampled: twice the size, half the pixel size).
 */
public final class TrainLikeServerJob extends TrainServerJob<TrainLikeServerJob> {
    /** The job's spec ({@code TrainLikeSpec}): defaults and bounds. */
    public static final JobSpec SPEC = JobSpec.of("train-like");

    /** What the user chose. NA and wavelength have no default: image files do not record them. */
    public static final class Settings {
        public double na = Double.NaN;
        public double wavelengthNm = Double.NaN;
        /** 0: the image's calibration. */
        public double pixelSizeNm = SPEC.number("pixel_size_nm");
        public int steps = SPEC.integer("steps");
        public String name = SPEC.string("name");
        /** denoise, deconvolve or upsample: which shipped model is fitted. */
        public String modelTask = SPEC.string("model_task");
        /**
         * The camera's calibration, for a frame that does not show its shot noise (a bead crop, mostly background):
         * gain (ADU per photon), background (offset, ADU), read noise (electrons); null: estimated from the frame.
         */
        public Double gain;
        public Double background;
        public Double readNoiseE;
        /** Of a stack: the plane (0-based) the structure and light level are fitted to; null: the brightest. */
        public Integer plane;
    }

    /** {@code plane=} as typed: empty is unset (the server picks the brightest plane); else a plane index ≥ 0. */
    public static Integer planeValue(String text) {
        String t = text == null ? "" : text.trim();
        if (t.isEmpty()) {
            return null;
        }
        try {
            int plane = Integer.parseInt(t);
            if (plane >= 0) {
                return plane;
            }
        } catch (NumberFormatException e) {
            // worded below
        }
        throw new FluoreconException("plane = " + t + " is no plane index; give the plane (0-based) of the stack to "
                + "fit the structure and light level to, or leave it empty for the brightest.");
    }

    /**
     * A camera value as typed in the dialog or macro ({@code gain=}, {@code background=}, {@code read_noise_e=}):
     * empty is unset (estimated from the frame); anything else must be a number.
     */
    public static Double cameraValue(String key, String text) {
        String t = text == null ? "" : text.trim();
        if (t.isEmpty()) {
            return null;
        }
        try {
            return Double.parseDouble(t);
        } catch (NumberFormatException e) {
            throw new FluoreconException(key + " = " + t + " is not a number; give the camera's calibrated value or "
                    + "leave it empty to estimate it from the frame.");
        }
    }

    private final Settings settings;

    /**
     * @param modelsFolder where the trained model is copied (the plugin's models folder)
     */
    public TrainLikeServerJob(ImagePlus input, Settings settings, Path modelsFolder, ServerClient client) {
        super(client, "Train for my microscope", input, "the raw frame to fit the simulation to", modelsFolder);
        this.settings = settings;
    }

    @Override
    protected Map<String, Object> trainSpec() {
        int[] d = ImageConversion.dimensions(input);
        if (d[1] > 1 && d[2] > 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has " + d[1] + " slices and " + d[2]
                    + " frames; fit to one Z or T stack (Image › Duplicate… one frame, or one slice) first.");
        }
        if (!(settings.na > 0) || settings.na > SPEC.max("na")) {
            throw new FluoreconException("na = " + settings.na + "; give the objective's numerical aperture (0 < na ≤ "
                    + SPEC.max("na") + "): image files do not record it, and a guess would be trained in as if measured.");
        }
        if (!(settings.wavelengthNm >= SPEC.min("wavelength_nm")) || settings.wavelengthNm > SPEC.max("wavelength_nm")) {
            throw new FluoreconException("wavelength_nm = " + settings.wavelengthNm + "; give the emission wavelength in nm ("
                    + (int) SPEC.min("wavelength_nm") + "–" + (int) SPEC.max("wavelength_nm") + ").");
        }
        if (settings.pixelSizeNm < 0) {
            throw new FluoreconException("pixel_size_nm = " + settings.pixelSizeNm + "; use 0 (the image's calibration) "
                    + "or the pixel size in the sample, nm.");
        }
        SPEC.checkRange("steps", "steps", settings.steps, " (" + SPEC.integer("steps") + " is a good start)");
        if (!SPEC.choices("model_task").contains(settings.modelTask)) {
            throw new FluoreconException("model_task = " + settings.modelTask + "; choose one of "
                    + String.join(", ", SPEC.choices("model_task")) + ".");
        }
        Map<String, Object> spec = Json.object("task", "train-like", "model_task", settings.modelTask, "na", settings.na,
                "wavelength_nm", settings.wavelengthNm, "pixel_size_nm", settings.pixelSizeNm, "steps", settings.steps,
                "name", settings.name == null ? "" : settings.name.trim());
        Double gain = settings.gain;
        if (gain != null && !(gain > 0 && Double.isFinite(gain))) {
            throw new FluoreconException("gain = " + gain + "; give the camera gain in ADU per detected photon (> 0) from "
                    + "its calibration, or leave it empty to estimate it from the frame.");
        }
        if (settings.background != null && !Double.isFinite(settings.background)) {
            throw new FluoreconException("background = " + settings.background + "; give the camera offset in ADU from "
                    + "its calibration, or leave it empty to estimate it from the frame.");
        }
        Double read = settings.readNoiseE;
        if (read != null && !(read >= 0 && Double.isFinite(read))) {
            throw new FluoreconException("read_noise_e = " + read + "; give the camera read noise in electrons rms (≥ 0) "
                    + "from its calibration, or leave it empty to estimate it from the frame.");
        }
        // Only the values given: an unset one is estimated on the server, never filled in with a default here.
        if (gain != null) {
            spec.put("gain", gain);
        }
        if (settings.background != null) {
            spec.put("background", settings.background);
        }
        if (read != null) {
            spec.put("read_noise_e", read);
        }
        if (settings.plane != null) {  // checked against the stack by the server, by the rule --like uses
            spec.put("plane", settings.plane);
        }
        return spec;
    }

    /**
     * The current channel's whole Z or T stack (its one plane when it has one): the camera is fitted over every
     * plane, which one sparse plane (a bead) may not show.
     */
    @Override
    protected ImagePlus upload() {
        int[] d = ImageConversion.dimensions(input);
        int c = input.getC() - 1;
        int n = d[1] * d[2];
        float[][] planes = new float[n][];
        for (int k = 0; k < n; k++) {
            int z = d[1] > 1 ? k : 0;
            int t = d[2] > 1 ? k : 0;
            planes[k] = ImageConversion.toFloat(input, ImageConversion.stackIndex(c, z, t, d[0], d[1]) + 1);
        }
        return ImageConversion.toImagePlus(input.getTitle(), planes, input.getWidth(), input.getHeight(), 1, d[1],
                d[2], input, new int[] {1, 1, 1}, null);
    }

    @Override
    protected ImagePlus shape(ImagePlus out) {
        int f = "upsample".equals(settings.modelTask) ? 2 : 1;
        checkResultSize(out, f * input.getWidth(), f * input.getHeight(), 1, f == 1 ? "the input's size" : "twice the input's size");
        Calibration cal = inputCalibration();
        cal.pixelWidth /= f;
        cal.pixelHeight /= f;
        out.setCalibration(cal);
        out.setTitle(input.getShortTitle() + ("denoise".equals(settings.modelTask) ? "-fitted-care" : "-fitted-" + settings.modelTask));
        return out;
    }
}
