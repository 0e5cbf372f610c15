package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import ij.measure.Calibration;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.AtomicFiles;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.server.JobSpec;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * Self-supervised denoiser training on the user's own image, on the model server (job task
 * {@code train-denoise}: Noise2Void or Noise2Self). The server saves the model in its models folder
 * and names it in the job's message ({@code model_file = …}); this class copies it into the plugin's
 * models folder, so Denoise… lists it at once. The result is the image denoised by the new model.
 */
public final class TrainDenoiseServerJob extends ServerJob<TrainDenoiseServerJob> {
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
    private final Path modelsFolder;
    private Path serverModel;
    private Path installedModel;

    /**
     * @param modelsFolder where the trained model is copied (the plugin's models folder)
     */
    public TrainDenoiseServerJob(ImagePlus input, Settings settings, Path modelsFolder, ServerClient client) {
        super(client, "Training", input, "Image", "the noisy image to train on");
        this.settings = settings;
        this.modelsFolder = modelsFolder;
    }

    @Override
    protected Map<String, Object> spec() {
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
        if (modelsFolder == null) {
            throw new FluoreconException("No models folder to install the trained model in; set -Dfluorecon.models=DIR.");
        }
        return Json.object("task", "train-denoise", "method", settings.method, "steps", settings.steps,
                "ndim", settings.ndim, "name", settings.name == null ? "" : settings.name.trim(),
                "struct_n2v_axis", settings.structN2vAxis);
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        serverModel = modelPath(job.getMessage());
        installedModel = install(serverModel, modelsFolder);
        return shape(out);
    }

    /** The path after {@code model_file = } in the job's message. */
    static Path modelPath(String message) {
        String key = "model_file = ";
        int at = message == null ? -1 : message.indexOf(key);
        if (at < 0) {
            throw new FluoreconException("The server's answer names no trained model; is the server older than this plugin?");
        }
        return Path.of(message.substring(at + key.length()).trim());
    }

    /** Copies the model into the models folder under an unused name; the server keeps its own copy. */
    static Path install(Path model, Path modelsFolder) {
        if (!Files.isRegularFile(model)) {
            throw new FluoreconException("The trained model " + model + " is not readable from here; the plugin needs "
                    + "the server on this machine. Copy it into " + modelsFolder + " by hand.");
        }
        String file = model.getFileName().toString();
        String stem = file.endsWith(".onnx") ? file.substring(0, file.length() - 5) : file;
        try {
            Files.createDirectories(modelsFolder);
            Path target = modelsFolder.resolve(stem + ".onnx");
            for (int k = 2; Files.exists(target); k++) {
                target = modelsFolder.resolve(stem + "-" + k + ".onnx");
            }
            AtomicFiles.write(target, out -> Files.copy(model, out));
            return target;
        } catch (IOException e) {
            throw new FluoreconException("Cannot copy the trained model into " + modelsFolder + ": " + e.getMessage()
                    + ". It is saved on the server as " + model + ".", e);
        }
    }

    private ImagePlus shape(ImagePlus out) {
        if (out.getStackSize() != input.getStackSize() || out.getWidth() != input.getWidth()
                || out.getHeight() != input.getHeight()) {
            throw new FluoreconException("The server's result is " + out.getWidth() + "x" + out.getHeight() + "x"
                    + out.getStackSize() + ", not the input's size; is the server older than this plugin?");
        }
        int[] d = ImageConversion.dimensions(input);
        out.setDimensions(d[0], d[1], d[2]);
        if (d[2] > 1 && d[1] > 1) {
            out.setOpenAsHyperStack(true);
        }
        Calibration cal = input.getCalibration().copy();
        cal.disableDensityCalibration();
        out.setCalibration(cal);
        out.setTitle(input.getShortTitle() + "-" + settings.method);
        return withInfo(out, info());
    }

    public String info() {
        return provenance("Train on this image", "train", "model.installed = " + installedModel,
                "model.server_file = " + serverModel);
    }

    /** Where the trained model was installed (the plugin's models folder). */
    public Path getInstalledModel() {
        return installedModel;
    }
}
