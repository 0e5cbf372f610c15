package org.fluorecon.tasks.lightfield;

import ij.ImagePlus;
import java.util.Locale;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.ij.Option;
import org.fluorecon.server.JobSpec;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * Iterative light-field reconstruction on the model server (job task {@code lightfield},
 * {@code fluorecon.tasks.lightfield.LightFieldSpec}: Richardson–Lucy over the wave-optics
 * projector), TrackMate style. The result is the volume as a z-stack on the light field's
 * lateral grid, calibrated in µm from the optics (voxel = pitch / (nnum · M), z step, z origin at
 * {@code z_min}), titled {@code <title>-volume}.
 */
public final class LightFieldServerJob extends ServerJob<LightFieldServerJob> {

    /** The job's spec ({@code LightFieldSpec} with its {@code LightFieldOptics}): defaults and bounds. */
    public static final JobSpec SPEC = JobSpec.of("lightfield");

    /** The optics and iteration settings; the defaults are the spec's. */
    public static final class Settings {
        @Option(key = "num_iter") public int numIter = SPEC.integer("num_iter");
        @Option(key = "background", digits = 1) public double background = SPEC.number("background");
        @Option(key = "nnum") public int nnum = SPEC.integer("optics.nnum");
        @Option(key = "magnification", digits = 1) public double magnification = SPEC.number("optics.magnification");
        @Option(key = "na", digits = 2) public double na = SPEC.number("optics.na");
        public double nImmersion = SPEC.number("optics.n_immersion");
        @Option(key = "wavelength", digits = 1) public double wavelengthNm = SPEC.number("optics.wavelength_nm");
        @Option(key = "pitch", digits = 1) public double lensletPitchUm = SPEC.number("optics.lenslet_pitch_um");
        @Option(key = "focal", digits = 1) public double lensletFocalUm = SPEC.number("optics.lenslet_focal_um");
        @Option(key = "z_min", digits = 2) public double zMinUm = SPEC.number("optics.z_min_um");
        @Option(key = "z_max", digits = 2) public double zMaxUm = SPEC.number("optics.z_max_um");
        @Option(key = "z_step", digits = 2) public double zStepUm = SPEC.number("optics.z_step_um");
        /** The calibration JSON (as parsed), or null when the image is already rectified. */
        public Map<String, Object> calibration;

        public int planes() {
            return (int) Math.round((zMaxUm - zMinUm) / zStepUm) + 1;
        }

        public double voxelUm() {
            return lensletPitchUm / nnum / magnification;
        }
    }

    private final Settings settings;

    public LightFieldServerJob(ImagePlus input, Settings settings, ServerClient client) {
        super(client, "Light-field reconstruction", input, "Image", "a light-field image");
        this.settings = settings;
    }

    @Override
    protected Map<String, Object> spec() {
        if (input.getStackSize() != 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has " + input.getStackSize() + " planes; a "
                    + "light field is one 2D image (Image › Duplicate… one plane first).");
        }
        Settings s = settings;
        if (s.numIter < 1) {
            throw new FluoreconException("num_iter = " + s.numIter + ": use at least 1 iteration (4–16 is usual).");
        }
        if (s.nnum < 3 || s.nnum % 2 == 0) {
            throw new FluoreconException("nnum = " + s.nnum + ": pixels per lenslet must be odd and at least 3.");
        }
        if (!(s.zStepUm > 0) || s.zMaxUm < s.zMinUm) {
            throw new FluoreconException("z range " + s.zMinUm + "…" + s.zMaxUm + " µm every " + s.zStepUm
                    + " µm is not valid; give z_min ≤ z_max and a positive z_step.");
        }
        if (s.calibration == null && (input.getWidth() % s.nnum != 0 || input.getHeight() % s.nnum != 0)) {
            throw new FluoreconException("Image '" + input.getTitle() + "' (" + input.getWidth() + "x"
                    + input.getHeight() + ") is not a whole number of " + s.nnum + "-pixel lenslets; give the "
                    + "calibration of a white image (calibration=/path/cal.json) or a rectified light field.");
        }
        Map<String, Object> optics = Json.object("magnification", s.magnification, "na", s.na,
                "n_immersion", s.nImmersion, "wavelength_nm", s.wavelengthNm, "lenslet_pitch_um", s.lensletPitchUm,
                "lenslet_focal_um", s.lensletFocalUm, "nnum", s.nnum, "z_min_um", s.zMinUm, "z_max_um", s.zMaxUm,
                "z_step_um", s.zStepUm);
        return Json.object("task", "lightfield", "method", "rl", "num_iter", s.numIter, "optics", optics,
                "calibration", s.calibration, "background", s.background);
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        int planes = settings.planes();
        if (out.getStackSize() != planes) {
            throw new FluoreconException("The server returned " + out.getStackSize() + " planes, expected " + planes
                    + " (z " + settings.zMinUm + "…" + settings.zMaxUm + " µm every " + settings.zStepUm + " µm).");
        }
        out.setDimensions(1, planes, 1);
        out.setOpenAsHyperStack(false);
        for (int z = 0; z < planes; z++) {
            out.getStack().setSliceLabel(String.format(Locale.ROOT, "z=%.3f um", settings.zMinUm + z * settings.zStepUm),
                    z + 1);
        }
        out.setCalibration(LightFieldJob.volumeCalibration(settings.zMinUm, settings.zStepUm, settings.voxelUm()));
        out.setTitle(input.getShortTitle() + "-volume");
        return withInfo(out, info());
    }

    /** Provenance for the output's Info. */
    public String info() {
        return provenance("Light-field", "lightfield", "lightfield.method = iterative (Richardson-Lucy, server)");
    }
}
