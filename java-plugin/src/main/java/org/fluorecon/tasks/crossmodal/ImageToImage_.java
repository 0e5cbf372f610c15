package org.fluorecon.tasks.crossmodal;

import ij.ImagePlus;
import java.nio.file.Path;
import org.fluorecon.core.ImageToImageJob;
import org.fluorecon.core.LocalModelJob;
import org.fluorecon.ij.LocalModelCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Image-to-image…  Runs any carded image-to-image model locally through ONNX Runtime,
 * whatever its task: cross-modality prediction (task=crossmodal), and models imported from elsewhere
 * with a fluorecon card, as well as denoising, deconvolution, upsampling and isotropic models. The card's
 * checks apply (single input channel, 2D/3D, tile multiple, scale: the pixel size is divided by it); the
 * output is titled {@code <title>-<task>}. Models of localisation, SIM, light field, unmixing and
 * registration are refused with the command to use. Macro:
 * {@code run("Image-to-image...", "model=[file] model_file=/path/care_crossmodal_2d.onnx tile=0 threads=0 save=/path/out.tif")}.
 */
@Menu(label = "Image-to-image...")
public class ImageToImage_ extends LocalModelCommand {
    public ImageToImage_() {
        super("Image-to-image", "image-to-image models (e.g. task=crossmodal)",
                name -> name.contains("crossmodal"));
    }

    @Override
    protected LocalModelJob<ImagePlus> job(ImagePlus imp, Path model, ModelChoice m) {
        return new ImageToImageJob(imp, model, m.tile, m.threads, m.useGpu, Predictor::open).forAnyTask(label);
    }
}
