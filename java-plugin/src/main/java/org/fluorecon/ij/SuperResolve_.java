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
 * Plugins › fluorecon › Super-resolve…  Runs an upsampling model (card {@code task = upsample}) locally:
 * the output is {@code scale}× larger per axis and its pixel size is divided by {@code scale}.
 * Macro: {@code run("Super-resolve...", "model=NAME tile=0 threads=0")} or
 * {@code model=[file] model_file=/path/care_upsample2x_2d.onnx}; {@code save=/path/out.tif} also writes the result.
 */
public class SuperResolve_ implements PlugIn {
    static final String TITLE = "fluorecon Super-resolve";
    static final String FILE_CHOICE = Denoise_.FILE_CHOICE;
    static final String TASK = "upsample";

    private ImagePlus image;
    private ImagePlus result;

    /** Image to process instead of the current one (for scripts). */
    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    /** The super-resolved image of the last successful run; null otherwise. */
    public ImagePlus getResult() {
        return result;
    }

    @Override
    public void run(String arg) {
        result = null;
        try {
            ImagePlus imp = image != null ? image : WindowManager.getCurrentImage();
            Map<String, Path> models = ModelLibrary.list(ModelLibrary.folders(IJ.getDirectory("imagej")));
            List<String> names = new ArrayList<>(models.keySet());
            names.add(FILE_CHOICE);
            Params params = new Params(TITLE, "model_file=/path/to/model.onnx tile=0 threads=0 save=/path/to/out.tif");
            boolean fileGiven = params.hasOption("model_file") && !params.hasOption("model");
            params.addChoice("model", names.toArray(new String[0]), fileGiven ? FILE_CHOICE : defaultModel(names));
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

            Path model = resolveModel(choice, file, models);
            DenoiseJob job = new DenoiseJob(imp, model, tile, threads, useGpu, Predictor::open)
                    .forTask(TASK, "Super-resolve", "-superres");
            IJ.showStatus("Super-resolve: loading model...");
            Commands.check(job);
            IJ.resetEscape();
            if (!Commands.process(TITLE, job, new StatusProgress("Super-resolve", "tile"))) {
                return;
            }
            ImagePlus out = job.getResult();
            Commands.save(out, save);
            result = out;
            IJ.showStatus("Super-resolve: done on " + job.getModel().provider());
            Commands.show(out, params);
        } catch (FluoreconException e) {
            Commands.fail(TITLE, e.getMessage());
        }
    }

    /** The library is not indexed by task; an upsampling model's name usually says so. */
    private static String defaultModel(List<String> names) {
        for (String n : names) {
            if (n.contains("upsample") || n.contains("superres")) {
                return n;
            }
        }
        return names.get(0);
    }

    private static Path resolveModel(String choice, String file, Map<String, Path> models) {
        // Macro.getValue strips one pair of brackets, so "model=[file]" arrives as "file"
        boolean fileChoice = choice == null || choice.equals(FILE_CHOICE)
                || (choice.equals("file") && !models.containsKey("file"));
        if (fileChoice) {
            if (file.isEmpty()) {
                throw new FluoreconException("No model chosen; install upsampling models (task=upsample) in "
                        + ModelLibrary.folders(IJ.getDirectory("imagej")) + " or give model_file=/path/to/model.onnx.");
            }
            return Path.of(file);
        }
        Path p = models.get(choice);
        if (p == null) {
            throw new FluoreconException("model = '" + choice + "' is not installed; installed: " + models.keySet()
                    + ". Use model=[file] model_file=/path/to/model.onnx for another file.");
        }
        return p;
    }
}
