package org.fluorecon.tasks.isotropic;

import ij.ImagePlus;
import java.nio.file.Path;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.ij.Params;
import org.fluorecon.ij.ServerCommand;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Isotropic restoration…  Runs an isotropic model (card {@code task = isotropic},
 * {@code train.z_factor}) on an anisotropic z-stack: z stretched ×z_factor, the 2D model on every XZ
 * and YZ slice, the two views averaged ({@link IsotropicJob}, as {@code fluorecon predict}); the output
 * has z_factor× more slices and a z step of the input's / z_factor (= the pixel size).
 * Macro: {@code run("Isotropic restoration...", "model=NAME tile=0 threads=0")} or
 * {@code model=[file] model_file=/path/care_isotropic_2d.onnx}; {@code save=/path/out.tif} also writes the result.
 */
public class Isotropic_ extends ServerCommand {
    static final String LABEL = "Isotropic restoration";

    public Isotropic_() {
        super("fluorecon " + LABEL, LABEL);
    }

    @Override
    protected void execute(ImagePlus imp) {
        ModelChoice m = new ModelChoice();
        Params params = new Params(title, "model_file=/path/to/model.onnx tile=0 threads=0 save=/path/to/out.tif");
        if (!m.ask(params, m.first(n -> n.contains("isotropic")))) {
            return;
        }
        String save = params.option("save", null);

        Path model = m.resolve("No model chosen; install isotropic models (task=isotropic) in "
                + ModelChoice.folders() + " or give model_file=/path/to/model.onnx.");
        IsotropicJob job = new IsotropicJob(imp, model, m.tile, m.threads, m.useGpu, Predictor::open);
        if (runLocal(job, "tile")) {
            done(keep(job.getResult(), save), params, " on " + job.getModel().provider());
        }
    }
}
