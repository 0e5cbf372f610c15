package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.core.AtomicFiles;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * A training job on the model server whose model the plugin installs: the server saves the model in its models
 * folder and names it in the job's message ({@code model_file = …}); this class copies it into the plugin's models
 * folder under an unused name, so the model commands list it at once, and the result is the image restored by it.
 * A task checks its settings in {@link #trainSpec()} and shapes the result in {@link #shape(ImagePlus)}.
 *
 * @param <T> the task's own class
 */
public abstract class TrainServerJob<T extends TrainServerJob<T>> extends ServerJob<T> {
    private final Path modelsFolder;
    private final String command;
    private Path serverModel;
    private Path installedModel;

    /**
     * @param command      the command's name in the result's Info, e.g. "Train on this image"
     * @param toOpen       what to open when no image is, e.g. "the noisy image to train on"
     * @param modelsFolder where the trained model is copied (the plugin's models folder)
     */
    protected TrainServerJob(ServerClient client, String command, ImagePlus input, String toOpen, Path modelsFolder) {
        super(client, "Training", input, "Image", toOpen);
        this.command = command;
        this.modelsFolder = modelsFolder;
    }

    /** Validates the task's settings and the image; the spec sent to the server. */
    protected abstract Map<String, Object> trainSpec();

    /** The restored image made into the user's result (size check, title, calibration), before its Info. */
    protected abstract ImagePlus shape(ImagePlus out);

    @Override
    protected final Map<String, Object> spec() {
        Map<String, Object> spec = trainSpec();
        if (modelsFolder == null) {
            throw new FluoreconException("No models folder to install the trained model in; set -Dfluorecon.models=DIR.");
        }
        return spec;
    }

    @Override
    protected final ImagePlus finish(ImagePlus out) {
        serverModel = modelPath(job.getMessage());
        installedModel = install(serverModel, modelsFolder);
        return withInfo(shape(out), info());
    }

    /** The result's Info: the provenance with where the model went. */
    public String info() {
        return provenance(command, "train", "model.installed = " + installedModel, "model.server_file = " + serverModel);
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

    /** Where the trained model was installed (the plugin's models folder). */
    public Path getInstalledModel() {
        return installedModel;
    }
}
