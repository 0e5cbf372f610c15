package org.fluorecon.tasks.fuse;

import ij.ImagePlus;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.core.Sampling;
import org.fluorecon.server.JobSpec;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * Multiview fusion on the model server (job task {@code fuse}, {@code fluorecon.tasks.fusion.FuseSpec}):
 * the views are the channels of one z-stack on a common grid; each view gets a theoretical PSF
 * along its detection axis (z, y or x). The result is the fused z-stack; the view shifts come back
 * in its Info ({@code shifts_px = [[…], …]}).
 */
public final class FuseServerJob extends ServerJob<FuseServerJob> {
    public static final List<String> AXES = List.of("z", "y", "x");

    /** What the user chose; names as in {@code FuseSpec}. */
    public static final class Settings {
        public int iterations = JobSpec.of("fuse").integer("num_iter");
        public double na = 0.8;
        public double wavelengthNm = 520;
        public double ni = 1.33;
        /** Detection axis of each view, comma separated, e.g. {@code z,x}. */
        public String viewAxes = "z,x";
        /** Light-sheet FWHM in nm; 0 = widefield detection PSFs. */
        public double sheetFwhmNm = 0;
        public double background = 0;
        public boolean align = true;
    }

    private final Settings settings;

    public FuseServerJob(ImagePlus input, Settings settings, ServerClient client) {
        super(client, "Multiview fusion", input, "Image", "the views as the channels of one z-stack");
        this.settings = settings;
    }

    @Override
    protected Map<String, Object> spec() {
        int[] d = ImageConversion.dimensions(input); // c, z, t
        if (d[0] < 2) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has " + d[0] + " channel; fusion needs two or "
                    + "more views as channels (Image › Color › Merge Channels…).");
        }
        if (d[2] > 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has " + d[2] + " frames; fuse one time point "
                    + "at a time (Image › Duplicate… a single frame).");
        }
        if (d[1] < 8) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has " + d[1] + " slice(s); theoretical view "
                    + "PSFs need a z-stack of at least 8 slices.");
        }
        List<String> axes = new ArrayList<>();
        for (String a : settings.viewAxes.split(",")) {
            String axis = a.trim().toLowerCase(Locale.ROOT);
            if (!AXES.contains(axis)) {
                throw new FluoreconException("view_axes = '" + settings.viewAxes + "': '" + a.trim() + "' is not an "
                        + "axis; give z, y or x for each view, e.g. z,x.");
            }
            axes.add(axis);
        }
        if (axes.size() != d[0]) {
            throw new FluoreconException("view_axes = '" + settings.viewAxes + "' names " + axes.size() + " view(s) "
                    + "but the image has " + d[0] + " channels; give one axis per view.");
        }
        JobSpec.of("fuse").checkRange("num_iter", "num_iter", settings.iterations, "");
        Sampling.checkOptics(settings.na, settings.ni, settings.wavelengthNm);
        if (!(settings.background >= 0) || !(settings.sheetFwhmNm >= 0)) {
            throw new FluoreconException("background and sheet_fwhm_nm must be 0 or positive.");
        }
        Map<String, Object> psf = Json.object("na", settings.na, "wavelength_nm", settings.wavelengthNm,
                "ni", settings.ni, "pixel_size_nm", Sampling.requirePixelNm(input, "theoretical view PSFs"),
                "z_step_nm", Sampling.requireZStepNm(input, "theoretical view PSFs"));
        Map<String, Object> spec = Json.object("task", "fuse", "num_iter", settings.iterations, "psf", psf,
                "view_axes", axes);
        if (settings.sheetFwhmNm > 0) {
            spec.put("sheet_fwhm_nm", settings.sheetFwhmNm);
        }
        spec.put("background", settings.background);
        spec.put("align", settings.align);
        return spec;
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        int[] d = ImageConversion.dimensions(input);
        checkResultSize(out, input.getWidth(), input.getHeight(), d[1], "one view's");
        out.setCalibration(inputCalibration());
        out.setDimensions(1, d[1], 1);
        out.setTitle(input.getShortTitle() + "-fused");
        return withInfo(out, info());
    }

    public String info() {
        return provenance("Multiview fusion", "fuse");
    }
}
