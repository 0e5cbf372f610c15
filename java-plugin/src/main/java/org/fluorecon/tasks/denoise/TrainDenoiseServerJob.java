package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.server.JobSpec;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;

/**
 * Self-supervised denoiser training on the user's own image, on the model server (job task
 * {@code train-denoise}: Noise2Void or Noise2Self). As every {@link TrainServerJob}, the model is installed in
 * the plugin's models folder (Denoise… lists it at once); the result is the image denoised by the new model.
 */
public final class TrainDenoiseServerJob extends TrainServerJob<TrainDenoiseServerJob> {
    public static final List<String> METHODS = List.of("n2v", "n2v2", "n2s");

    /** The job's spec ({@code TrainDenoiseSpec}): defaults and bounds. */
    public static final JobSpec SPEC = JobSpec.of("train-denoise");

    /** What the user chose; the defaults are the spec's. */
    public static final class Settings {
        public String method = SPEC.string("method");
        public int steps = SPEC.integer("steps");
        public int ndim = SPEC.integer("ndim");
        public String name = SPEC.string("name");
        /** structN2V: none, horizontal (noise correlated along X) or vertical (along Y). */
        public String structN2vAxis = SPEC.string("struct_n2v_axis");
    }

    private final Settings settings;

    /**
     * @param modelsFolder where the trained model is copied (the plugin's models folder)
     */
    public TrainDenoiseServerJob(ImagePlus input, Settings settings, Path modelsFolder, ServerClient client) {
        super(client, "Train on this image", input, "the noisy image to train on", modelsFolder);
        this.settings = settings;
    }

    @Override
    protected Map<String, Object> trainSpec() {
        int[] d = ImageConversion.dimensions(input);
        if (d[0] != 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has " + d[0] + " channels; train on one "
                    + "channel (Image › Color › Split Channels) first.");
        }
        if (!METHODS.contains(settings.method)) {
            throw new FluoreconException("method = '" + settings.method + "' is not known; use one of " + METHODS + ".");
        }
        SPEC.checkRange("steps", "steps", settings.steps, " (" + SPEC.integer("steps") + " is a good start)");
        if (settings.ndim != 2 && settings.ndim != 3) {
            throw new FluoreconException("ndim = " + settings.ndim + "; use 2 (a plane model) or 3 (a z-stack model).");
        }
        if (settings.ndim == 3 && d[1] < 2) {
            throw new FluoreconException("ndim = 3 needs a z-stack but '" + input.getTitle() + "' has one slice; use "
                    + "ndim=2.");
        }
        List<String> axes = SPEC.choices("struct_n2v_axis");
        if (!axes.contains(settings.structN2vAxis)) {
            throw new FluoreconException("struct_n2v_axis = '" + settings.structN2vAxis + "' is not known; use one of "
                    + axes + ".");
        }
        return Json.object("task", "train-denoise", "method", settings.method, "steps", settings.steps,
                "ndim", settings.ndim, "name", settings.name == null ? "" : settings.name.trim(),
                "struct_n2v_axis", settings.structN2vAxis);
    }

    @Override
    protected ImagePlus shape(ImagePlus out) {
        checkResultSize(out, input.getWidth(), input.getHeight(), input.getStackSize(), "the input's size");
        int[] d = ImageConversion.dimensions(input);
        out.setDimensions(d[0], d[1], d[2]);
        if (d[2] > 1 && d[1] > 1) {
            out.setOpenAsHyperStack(true);
        }
        out.setCalibration(inputCalibration());
        out.setTitle(input.getShortTitle() + "-" + settings.method);
        return out;
    }
}
