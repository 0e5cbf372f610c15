package org.fluorecon.tasks.denoise;

import ij.IJ;
import ij.ImagePlus;
import java.nio.file.Path;
import java.util.List;
import org.fluorecon.core.ModelLibrary;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Output;
import org.fluorecon.ij.Params;
import org.fluorecon.server.ServerClient;

/**
 * A command that trains a model on the server from the current image ({@link TrainServerJob}), once: the
 * command's own fields, then {@code models_dir} (the plugin's first models folder), {@code save=}; the job with
 * progress and Esc; the restored image kept, shown and saved, and a Log line naming the installed model. A command
 * only adds its fields and makes its job.
 */
public abstract class TrainCommand extends FluoreconCommand {
    private final Output<Path> installedModel = output();
    private final String usage;
    private final String sending;

    /**
     * @param usage   example macro options for the headless error message
     * @param sending the status while the image travels, e.g. "sending the image to the server (…; Esc cancels)"
     */
    protected TrainCommand(String title, String usage, String sending) {
        super(title, "Train");
        this.usage = usage;
        this.sending = sending;
    }

    /** Where the last trained model was installed; null otherwise. The image restored by it is {@link #getResult()}. */
    public Path getInstalledModel() {
        return installedModel.get();
    }

    /** Adds the command's own fields (they come before {@code models_dir}), bound to the settings of its job. */
    protected abstract void addFields(Params params);

    /** The job on {@code imp} with the settings the dialog read. */
    protected abstract TrainServerJob<?> job(ImagePlus imp, Path modelsFolder, ServerClient client);

    @Override
    protected final void execute(ImagePlus imp) {
        List<Path> folders = ModelLibrary.folders(IJ.getDirectory("imagej"));
        Params params = new Params(title, usage);
        addFields(params);
        params.addString("models_dir", folders.isEmpty() ? "" : folders.get(0).toString());
        if (!params.show()) {
            return;
        }
        String dir = params.nextString("models_dir").trim();
        String save = params.option("save", null);

        TrainServerJob<?> job = job(imp, dir.isEmpty() ? null : Path.of(dir), server());
        if (!runJob(job, sending)) {
            return;
        }
        result = keep(job.getResult(), save);
        installedModel.set(job.getInstalledModel());
        Path model = installedModel.get();
        IJ.log(title + ": model installed as " + model + " (Denoise… lists it as '"
                + model.getFileName().toString().replaceFirst("\\.onnx$", "") + "').");
        done(result, params);
    }
}
