package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.plugin.PlugIn;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.IsotropicJob;
import org.fluorecon.core.ModelLibrary;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Isotropic restoration…  Runs an isotropic model (card {@code task = isotropic},
 * {@code train.z_factor}) on an anisotropic z-stack: z stretched ×z_factor, the 2D model on every XZ
 * and YZ slice, the two views averaged ({@link IsotropicJob}, as {@code fluorecon predict}); the output
 * has z_factor× more slices and a z step of the input's / z_factor (= the pixel size).
 * Macro: {@code run("Isotropic restoration...", "model=NAME tile=0 threads=0")} or
 * {@code model=[file] model_file=/path/care_isotropic_2d.onnx}; {@code save=/path/out.tif} also writes the result.
 */
public class Isotropic_ implements PlugIn {
    static final String LABEL = "Isotropic restoration";

    private ImagePlus image;
    private ImagePlus result;

    /** Stack to process instead of the current image (for scripts). */
    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    /** The result of the last successful run; null otherwise. */
    public ImagePlus getResult() {
        return result;
    }

    @Override
    public void run(String arg) {
        String title = "fluorecon " + LABEL;
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

            Path model = Commands.resolveModel(choice, file, models, "No model chosen; install isotropic models "
                    + "(task=isotropic) in " + ModelLibrary.folders(IJ.getDirectory("imagej"))
                    + " or give model_file=/path/to/model.onnx.");
            IsotropicJob job = new IsotropicJob(imp, model, tile, threads, useGpu, Predictor::open);
            IJ.showStatus(LABEL + ": loading model...");
            Commands.check(job);
            IJ.resetEscape();
            if (!Commands.process(title, job, new StatusProgress(LABEL, "tile"))) {
                return;
            }
            ImagePlus out = job.getResult();
            Commands.save(out, save);
            result = out;
            IJ.showStatus(LABEL + ": done on " + job.getModel().provider());
            Commands.show(out, params);
        } catch (FluoreconException e) {
            Commands.fail(title, e.getMessage());
        }
    }

    private static String defaultModel(List<String> names) {
        for (String n : names) {
            if (n.contains("isotropic")) {
                return n;
            }
        }
        return names.get(0);
    }
}
