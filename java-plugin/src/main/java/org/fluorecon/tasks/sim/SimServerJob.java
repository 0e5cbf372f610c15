package org.fluorecon.tasks.sim;

import ij.ImagePlus;
import ij.measure.Calibration;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.ij.Option;
import org.fluorecon.core.Sampling;
import org.fluorecon.server.JobSpec;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * Classical (generalised Wiener, fairSIM-style) SIM reconstruction of a raw stack on the model
 * server (job task {@code sim}, {@code fluorecon.tasks.sim_job.SimSpec}). The stack size is checked
 * against angles × phases here, before anything is uploaded. The result has one slice per z plane,
 * twice the width and height, half the input's pixel size, and is titled {@code <title>-SIM}; the
 * server's pattern table (angles, spacing, phases, modulation) is kept in its Info.
 */
public final class SimServerJob extends ServerJob<SimServerJob> {

    /** The job's spec ({@code SimSpec}): defaults and bounds. */
    public static final JobSpec SPEC = JobSpec.of("sim");
    public static final List<String> MODES = List.of("2d", "3d");

    /** What the user chose; the defaults are the spec's. */
    public static final class Settings {
        /** "2d": two-beam SIM, each z plane on its own; "3d": three-beam 3D SIM of the z-stack. */
        public String mode = SPEC.string("mode");
        /** z step in nm for 3d; 0: the raw stack's calibration. */
        @Option(key = "z_step", digits = 1) public double zStepNm = 0;
        /** Excitation wavelength in nm (3d). */
        @Option(key = "excitation", digits = 1) public double excitationNm = SPEC.number("excitation_nm");
        public String order = SPEC.string("order");
        @Option(key = "angles") public int angles = SPEC.integer("n_angles");
        /** The spec's default depends on the mode (3 for 2d); 3 here, the dialog's start. */
        @Option(key = "phases") public int phases = 3;
        /** Estimate the pattern from the data; false uses {@link #angleOffsetDeg} and {@link #lineSpacingNm}. */
        @Option(key = "estimate") public boolean estimate = SPEC.bool("estimate");
        @Option(key = "na", digits = 2) public double na = SPEC.number("na");
        @Option(key = "wavelength", digits = 1) public double wavelengthNm = SPEC.number("wavelength_nm");
        /** Raw pixel size in nm; 0 = from the image's calibration. */
        @Option(key = "pixel_size", digits = 2) public double pixelSizeNm = 0;
        @Option(key = "line_spacing", digits = 1) public double lineSpacingNm = SPEC.number("line_spacing_nm");
        @Option(key = "angle_offset", digits = 2) public double angleOffsetDeg = SPEC.number("angle_offset_deg");
        @Option(key = "wiener", digits = 3) public double wiener = SPEC.number("wiener");
        /** Camera offset + background to subtract; NaN = estimated by the server. */
        public double background = Double.NaN;
    }

    private final Settings settings;
    private int planes;

    public SimServerJob(ImagePlus input, Settings settings, ServerClient client) {
        super(client, "SIM reconstruction", input, "Raw stack", "a raw SIM stack");
        this.settings = settings;
    }

    @Override
    protected Map<String, Object> spec() {
        Settings s = settings;
        planes = SimStack.planes(input.getStackSize(), s.angles, s.phases, s.order);
        if (!(s.na > 0 && s.na < 1.7)) {
            throw new FluoreconException("na = " + s.na + " is out of range; give the objective's NA, e.g. 1.4.");
        }
        if (!(s.wavelengthNm > 200 && s.wavelengthNm < 2000)) {
            throw new FluoreconException("wavelength = " + s.wavelengthNm + " is not an emission wavelength; give it "
                    + "in nm, e.g. 520.");
        }
        double limit = s.wavelengthNm / (2 * s.na);
        if (!(s.lineSpacingNm > limit && s.lineSpacingNm < 5000)) {
            throw new FluoreconException("line_spacing = " + s.lineSpacingNm + " nm cannot pass the objective "
                    + "(λ/2NA = " + Math.round(limit) + " nm); give the pattern period in the sample, e.g. 210.");
        }
        if (!(s.wiener > 0 && s.wiener <= 10)) {
            throw new FluoreconException("wiener = " + s.wiener + " is out of range; use a value in (0, 10], "
                    + "e.g. 0.05 (larger = smoother).");
        }
        double pixel = s.pixelSizeNm > 0 ? s.pixelSizeNm : pixelNm(input);
        if (Double.isNaN(pixel)) {
            throw new FluoreconException("Raw stack '" + input.getTitle() + "' has no pixel size (unit '"
                    + input.getCalibration().getUnit() + "'); set it with Image › Properties… or give pixel_size "
                    + "in nm.");
        }
        if (!MODES.contains(s.mode)) {
            throw new FluoreconException("mode = '" + s.mode + "'; use 2d (two-beam, per plane) or 3d (three-beam).");
        }
        Map<String, Object> spec = Json.object("task", "sim", "method", "wiener", "mode", s.mode);
        if ("3d".equals(s.mode)) {
            if (planes < 2) {
                throw new FluoreconException("3D SIM needs a z-stack: raw stack '" + input.getTitle() + "' holds "
                        + planes + " plane of " + s.angles + " angles × " + s.phases + " phases; use mode=2d.");
            }
            double z = s.zStepNm > 0 ? s.zStepNm : Sampling.requireZStepNm(input, "3D SIM (or give z_step in nm)");
            if (!(s.excitationNm > 200 && s.excitationNm < 2000)) {
                throw new FluoreconException("excitation = " + s.excitationNm + " is not an excitation wavelength; "
                        + "give it in nm, e.g. 488.");
            }
            spec.put("z_step_nm", z);
            spec.put("excitation_nm", s.excitationNm);
        }
        spec.putAll(Json.object("order", s.order, "n_angles", s.angles, "n_phases", s.phases, "pixel_size_nm", pixel,
                "na", s.na, "wavelength_nm", s.wavelengthNm, "line_spacing_nm", s.lineSpacingNm,
                "angle_offset_deg", s.angleOffsetDeg, "estimate", s.estimate, "wiener", s.wiener));
        if (!Double.isNaN(s.background)) {
            spec.put("background", s.background);
        }
        return spec;
    }

    /** The raw pixel size in nm from the calibration; NaN when uncalibrated. */
    public static double pixelNm(ImagePlus imp) {
        return Sampling.pixelNm(imp);
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        checkResultSize(out, 2 * input.getWidth(), 2 * input.getHeight(), planes, "the expected");
        out.setDimensions(1, planes, 1);
        Calibration cal = inputCalibration();
        cal.pixelWidth /= 2;
        cal.pixelHeight /= 2;
        cal.xOrigin *= 2;
        cal.yOrigin *= 2;
        out.setCalibration(cal);
        out.setTitle(input.getShortTitle() + "-SIM");
        return withInfo(out, info());
    }

    /** Provenance for the output's Info. */
    public String info() {
        return provenance("SIM reconstruction", "sim", "sim.method = classical (server, wiener, " + settings.mode + ")",
                "sim.z_planes = " + planes);
    }
}
