package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import java.nio.file.Path;
import java.util.function.Predicate;
import org.fluorecon.core.DenoiseJob;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.ij.Params;
import org.fluorecon.ij.ServerCommand;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Denoise…  Macro: {@code run("Denoise...", "model=NAME tile=0 threads=0 use_gpu")}
 * or {@code model=[file] model_file=/path/model.onnx}; {@code save=/path/out.tif} also writes the result.
 * Other local image-to-image commands (Super-resolve…) are this command with another task.
 */
public class Denoise_ extends ServerCommand {
    private final String task;
    private final String suffix;
    private final String modelKind;
    private final Predicate<String> preferred;

    public Denoise_() {
        this("Denoise", DenoiseJob.TASK, "-denoised", "models", name -> false);
    }

    /**
     * @param label     shown in the title and status line, e.g. "Super-resolve"
     * @param task      the card's task the model must have
     * @param suffix    appended to the output's title
     * @param modelKind what to install when no model is given, e.g. "upsampling models (task=upsample)"
     * @param preferred the installed model the dialog preselects: the first it accepts, else the first
     */
    protected Denoise_(String label, String task, String suffix, String modelKind, Predicate<String> preferred) {
        super("fluorecon " + label, label);
        this.task = task;
        this.suffix = suffix;
        this.modelKind = modelKind;
        this.preferred = preferred;
    }

    @Override
    protected void execute(ImagePlus imp) {
        ModelChoice m = new ModelChoice();
        Params params = new Params(title, "model_file=/path/to/model.onnx tile=0 threads=0 save=/path/to/out.tif");
        if (!m.ask(params, m.first(preferred))) {
            return;
        }
        String save = params.option("save", null);

        Path model = m.resolve("No model chosen; install " + modelKind + " in " + ModelChoice.folders()
                + " or give model_file=/path/to/model.onnx.");
        DenoiseJob job = new DenoiseJob(imp, model, m.tile, m.threads, m.useGpu, Predictor::open)
                .forTask(task, label, suffix);
        if (runLocal(job, "tile")) {
            done(keep(job.getResult(), save), params, " on " + job.getModel().provider());
        }
    }
}
