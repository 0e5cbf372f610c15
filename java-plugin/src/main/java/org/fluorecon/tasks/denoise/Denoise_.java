package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import java.nio.file.Path;
import org.fluorecon.core.ImageToImageJob;
import org.fluorecon.core.LocalModelJob;
import org.fluorecon.ij.LocalModelCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Denoise…  Macro: {@code run("Denoise...", "model=NAME tile=0 threads=0 use_gpu")}
 * or {@code model=[file] model_file=/path/model.onnx}; {@code save=/path/out.tif} also writes the result.
 */
@Menu(label = "Denoise...")
public class Denoise_ extends LocalModelCommand {
    public Denoise_() {
        super("Denoise", "models", name -> false);
    }

    @Override
    protected LocalModelJob<ImagePlus> job(ImagePlus imp, Path model, ModelChoice m) {
        return new ImageToImageJob(imp, model, m.tile, m.threads, m.useGpu, Predictor::open);
    }
}
