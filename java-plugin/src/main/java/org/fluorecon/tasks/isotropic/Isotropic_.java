package org.fluorecon.tasks.isotropic;

import ij.ImagePlus;
import java.nio.file.Path;
import org.fluorecon.core.LocalModelJob;
import org.fluorecon.ij.LocalModelCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Isotropic restoration…  Runs an isotropic model (card {@code task = isotropic},
 * {@code train.z_factor}) on an anisotropic z-stack: z stretched ×z_factor, the 2D model on every XZ
 * and YZ slice, the two views averaged ({@link IsotropicJob}, as {@code fluorecon predict}); the output
 * has z_factor× more slices and a z step of the input's / z_factor (= the pixel size).
 * Macro: {@code run("Isotropic restoration...", "model=NAME tile=0 threads=0")} or
 * {@code model=[file] model_file=/path/care_isotropic_2d.onnx}; {@code save=/path/out.tif} also writes the result.
 */
@Menu(label = "Isotropic restoration...")
public class Isotropic_ extends LocalModelCommand {
    public Isotropic_() {
        super("Isotropic restoration", "isotropic models (task=isotropic)", n -> n.contains("isotropic"));
    }

    @Override
    protected LocalModelJob<ImagePlus> job(ImagePlus imp, Path model, ModelChoice m) {
        return new IsotropicJob(imp, model, m.tile, m.threads, m.useGpu, Predictor::open);
    }
}
