package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import java.nio.file.Path;
import java.util.List;
import org.fluorecon.core.ImageToImageJob;
import org.fluorecon.core.LocalModelJob;
import org.fluorecon.ij.LocalModelCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.ij.Params;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Denoise…  Macro: {@code run("Denoise...", "model=NAME tile=0 threads=0 use_gpu")}
 * or {@code model=[file] model_file=/path/model.onnx}; {@code save=/path/out.tif} also writes the result.
 * Classical denoisers run on the model server without a model: {@code model=nlm} (non-local means),
 * {@code model=bm3d}, {@code model=vst-bm3d} / {@code vst-nlm} (after a variance-stabilising transform;
 * when the server offers them), e.g. {@code run("Denoise...", "model=bm3d save=/path/out.tif")}.
 */
@Menu(label = "Denoise...")
public class Denoise_ extends LocalModelCommand {
    public Denoise_() {
        super("Denoise", "models", name -> false);
    }

    @Override
    protected List<String> otherChoices() {
        return DenoiseClassicalServerJob.METHODS;
    }

    @Override
    protected void runOther(ImagePlus imp, String method, Params params, String save) {
        DenoiseClassicalServerJob job = new DenoiseClassicalServerJob(imp, method, server());
        if (runJob(job, "sending the image to the server")) {
            done(keep(job.getResult(), save), params, " on the server");
        }
    }

    @Override
    protected LocalModelJob<ImagePlus> job(ImagePlus imp, Path model, ModelChoice m) {
        return new ImageToImageJob(imp, model, m.tile, m.threads, m.useGpu, Predictor::open);
    }
}
