package org.fluorecon.tasks.upsample;

import ij.ImagePlus;
import java.nio.file.Path;
import org.fluorecon.core.ImageToImageJob;
import org.fluorecon.core.LocalModelJob;
import org.fluorecon.ij.LocalModelCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Super-resolve…  Runs an upsampling model (card {@code task = upsample}) locally:
 * the output is {@code scale}× larger per axis and its pixel size is divided by {@code scale}.
 * Macro: {@code run("Super-resolve...", "model=NAME tile=0 threads=0")} or
 * {@code model=[file] model_file=/path/care_upsample2x_2d.onnx}; {@code save=/path/out.tif} also writes the result.
 */
@Menu(label = "Super-resolve...")
public class SuperResolve_ extends LocalModelCommand {
    public SuperResolve_() {
        // The library is not indexed by task; an upsampling model's name usually says so.
        super("Super-resolve", "upsampling models (task=upsample)",
                name -> name.contains("upsample") || name.contains("superres"));
    }

    @Override
    protected LocalModelJob<ImagePlus> job(ImagePlus imp, Path model, ModelChoice m) {
        return new ImageToImageJob(imp, model, m.tile, m.threads, m.useGpu, Predictor::open)
                .forTask("upsample", label, "-superres");
    }
}
