package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.plugin.PlugIn;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.DenoiseJob;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ModelLibrary;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Denoise…  Macro: {@code run("Denoise...", "model=NAME tile=0 threads=0 use_gpu")}
 * or {@code model=[file] model_file=/path/model.onnx}; {@code save=/path/out.tif} also writes the result.
 * Other local image-to-image commands (Super-resolve…) are this command with another task.
 */
public class Denoise_ implements PlugIn {
    private final String label;
    private final String task;
    private final String suffix;
    private final String modelKind;

    private ImagePlus image;
    private ImagePlus result;

    public Denoise_() {
        this("Denoise", "denoise", "-denoised", "models");
    }

    /**
     * @param label     shown in the title and status line, e.g. "Super-resolve"
     * @param task      the card's task the model must have
     * @param suffix    appended to the output's title
     * @param modelKind what to install when no model is given, e.g. "upsampling models (task=upsample)"
     */
    protected Denoise_(String label, String task, String suffix, String modelKind) {
        this.label = label;
        this.task = task;
        this.suffix = suffix;
        this.modelKind = modelKind;
    }

    /** Image to process instead of the current one (for scripts). */
    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    /** The result of the last successful run; null otherwise. */
    public ImagePlus getResult() {
        return result;
    }

    /** The model preselected in the dialog; subclasses pick one that fits their task. */
    protected String defaultModel(List<String> names) {
        return names.get(0);
    }

    @Override
    public void run(String arg) {
        String title = "fluorecon " + label;
        result = null;
        try {
            ImagePlus imp = image != null ? image : WindowManager.getCurrentImage();
            Map<String, Path> models = ModelLibrary.list(ModelLibrary.folders(IJ.getDirectory("imagej")));
            List<String> names = new ArrayList<>(models.keySet());
            names.add(Commands.FILE_CHOICE);
            Params params = new Params(title, "model_file=/path/to/model.onnx tile=0 threads=0 save=/path/to/out.tif");
            boolean fileGiven = params.hasOption("model_file") && !params.hasOption("model");
            params.addChoice("model", names.toArray(new String[0]), fileGiven ? Commands.FILE_CHOICE : defaultModel(names));
            params.addFile("model_file", "");
            params.addNumber("tile", 0);
            params.addNumber("threads", 0);
            params.addCheckbox("use_gpu", false);
            if (!params.show()) {
                return;
            }
            String choice = params.nextChoice("model");
            String file = params.nextFile("model_file").trim();
            int tile = params.nextInt("tile");
            int threads = params.nextInt("threads");
            boolean useGpu = params.nextBoolean("use_gpu");
            String save = params.option("save", null);

            Path model = Commands.resolveModel(choice, file, models, "No model chosen; install " + modelKind + " in "
                    + ModelLibrary.folders(IJ.getDirectory("imagej")) + " or give model_file=/path/to/model.onnx.");
            DenoiseJob job = new DenoiseJob(imp, model, tile, threads, useGpu, Predictor::open)
                    .forTask(task, label, suffix);
            IJ.showStatus(label + ": loading model...");
            Commands.check(job);
            IJ.resetEscape();
            if (!Commands.process(title, job, new StatusProgress(label, "tile"))) {
                return;
            }
            ImagePlus out = job.getResult();
            Commands.save(out, save);
            result = out;
            IJ.showStatus(label + ": done on " + job.getModel().provider());
            Commands.show(out, params);
        } catch (FluoreconException e) {
            Commands.fail(title, e.getMessage());
        }
    }
}
