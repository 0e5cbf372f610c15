package org.fluorecon.ij;

import ij.ImagePlus;
import java.nio.file.Path;
import java.util.List;
import org.fluorecon.core.FluoreconException;
import java.util.function.Predicate;
import org.fluorecon.core.LocalModelJob;

/**
 * A command that runs one local model on the image and shows its output (Denoise…, Super-resolve…,
 * Isotropic restoration…): the model and runtime dialog, the "no model" message, the run with a tile
 * count in the status line, and {@code save=}. A subclass only makes its job.
 * Macro: {@code run("<label>...", "model=NAME tile=0 threads=0 use_gpu")} or
 * {@code model=[file] model_file=/path/model.onnx}; {@code save=/path/out.tif} also writes the result.
 */
public abstract class LocalModelCommand extends FluoreconCommand {
    private final String modelKind;
    private final Predicate<String> preferred;

    /**
     * @param label     shown in the title and status line, e.g. "Super-resolve"
     * @param modelKind what to install when no model is given, e.g. "upsampling models (task=upsample)"
     * @param preferred the installed model the dialog preselects: the first it accepts, else the first
     */
    protected LocalModelCommand(String label, String modelKind, Predicate<String> preferred) {
        super("fluorecon " + label, label);
        this.modelKind = modelKind;
        this.preferred = preferred;
    }

    /** The job that runs {@code model} on {@code imp} with the tile, threads and GPU choice of {@code m}. */
    protected abstract LocalModelJob<ImagePlus> job(ImagePlus imp, Path model, ModelChoice m);

    /** Items offered beside the models in the {@code model} choice, run by {@link #runOther}; none by default. */
    protected List<String> otherChoices() {
        return List.of();
    }

    /** Runs {@code choice}, one of {@link #otherChoices()}, on {@code imp}; the command's own (e.g. a server job). */
    protected void runOther(ImagePlus imp, String choice, Params params, String save) {
        throw new FluoreconException("model = '" + choice + "' is not a model.");
    }

    @Override
    protected void execute(ImagePlus imp) {
        ModelChoice m = new ModelChoice();
        m.alsoOffer(otherChoices());
        Params params = new Params(title, "model_file=/path/to/model.onnx tile=0 threads=0 save=/path/to/out.tif");
        if (!m.ask(params, m.first(preferred))) {
            return;
        }
        String save = params.option("save", null);
        if (otherChoices().contains(m.chosen())) {
            runOther(imp, m.chosen(), params, save);
            return;
        }

        Path model = m.resolve("No model chosen; install " + modelKind + " in " + ModelChoice.folders()
                + " or give model_file=/path/to/model.onnx.");
        LocalModelJob<ImagePlus> job = job(imp, model, m);
        if (runLocal(job, "tile")) {
            done(keep(job.getResult(), save), params, " on " + job.getModel().provider());
        }
    }
}
