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
import org.fluorecon.core.Progress;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Denoise…  Macro: {@code run("Denoise...", "model=NAME tile=0 threads=0 use_gpu")}
 * or {@code model=[file] model_file=/path/model.onnx}; {@code save=/path/out.tif} also writes the result.
 */
public class Denoise_ implements PlugIn {
    static final String TITLE = "fluorecon Denoise";
    static final String FILE_CHOICE = "[file]";

    private ImagePlus image;
    private ImagePlus result;

    /** Image to process instead of the current one (for scripts). */
    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    /** The denoised image of the last successful run; null otherwise. */
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
            params.addChoice("model", names.toArray(new String[0]), fileGiven ? FILE_CHOICE : names.get(0));
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
            DenoiseJob job = new DenoiseJob(imp, model, tile, threads, useGpu, Predictor::open);
            IJ.showStatus("Denoise: loading model...");
            Commands.check(job);
            IJ.resetEscape();
            if (!Commands.process(TITLE, job, new StatusProgress())) {
                return;
            }
            ImagePlus out = job.getResult();
            Commands.save(out, save);
            result = out;
            IJ.showStatus("Denoise: done on " + job.getModel().provider());
            Commands.show(out, params);
        } catch (FluoreconException e) {
            Commands.fail(TITLE, e.getMessage());
        }
    }

    private static Path resolveModel(String choice, String file, Map<String, Path> models) {
        // Macro.getValue strips one pair of brackets, so "model=[file]" arrives as "file"
        boolean fileChoice = choice == null || choice.equals(FILE_CHOICE)
                || (choice.equals("file") && !models.containsKey("file"));
        if (fileChoice) {
            if (file.isEmpty()) {
                throw new FluoreconException("No model chosen; install models in "
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

    /** Status bar progress; Esc cancels. */
    private static final class StatusProgress implements Progress {
        private long last;

        @Override
        public void update(long done, long total) {
            long now = System.currentTimeMillis();
            if (now - last > 100 || done == total) {
                last = now;
                IJ.showProgress((double) done / total);
                IJ.showStatus("Denoise: tile " + done + "/" + total + " (Esc cancels)");
            }
        }

        @Override
        public boolean isCancelled() {
            return IJ.escapePressed();
        }
    }
}
