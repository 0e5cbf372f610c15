package org.fluorecon.tasks.denoise;

import ij.IJ;
import ij.ImagePlus;
import java.nio.file.Path;
import java.util.List;
import org.fluorecon.core.ModelLibrary;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.Output;
import org.fluorecon.ij.Params;

/**
 * Plugins › fluorecon › Train on this image…  Trains a Noise2Void / Noise2Self denoiser on the current
 * (noisy) image on the model server, installs the model in the plugin's models folder (Denoise…
 * lists it) and shows the image denoised by it. Macro:
 * {@code run("Train on this image...", "method=n2v steps=1000 ndim=2 name=[my n2v] models_dir=/path/models")};
 * {@code save=/path/out.tif} also writes the denoised image. {@code struct_n2v_axis=horizontal} (or vertical)
 * trains structN2V for noise correlated along X (Y).
 */
@Menu(path = "Plugins>fluorecon>Denoise", label = "Train on this image...")
public class TrainDenoise_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Train on this image";

    private final Output<Path> installedModel = output();

    public TrainDenoise_() {
        super(TITLE, "Train");
    }

    /** Where the last trained model was installed; null otherwise. The image denoised by it is {@link #getResult()}. */
    public Path getInstalledModel() {
        return installedModel.get();
    }

    @Override
    protected void execute(ImagePlus imp) {
        List<Path> folders = ModelLibrary.folders(IJ.getDirectory("imagej"));
        TrainDenoiseServerJob.Settings s = new TrainDenoiseServerJob.Settings();
        Params params = new Params(TITLE, "method=n2v steps=1000 ndim=2 name=[my n2v]");
        params.choice("method", TrainDenoiseServerJob.METHODS.toArray(new String[0]), s.method, v -> s.method = v);
        params.integer("steps", s.steps, v -> s.steps = v);
        params.integer("ndim", s.ndim, v -> s.ndim = v);
        params.text("name", "", v -> s.name = v);
        params.choice("struct_n2v_axis", TrainDenoiseServerJob.SPEC.choices("struct_n2v_axis").toArray(new String[0]),
                s.structN2vAxis, v -> s.structN2vAxis = v);
        params.addString("models_dir", folders.isEmpty() ? "" : folders.get(0).toString());
        if (!params.show()) {
            return;
        }
        String dir = params.nextString("models_dir").trim();
        String save = params.option("save", null);

        TrainDenoiseServerJob job = new TrainDenoiseServerJob(imp, s, dir.isEmpty() ? null : Path.of(dir), server());
        if (!runJob(job, "sending the image to the server (training runs there; Esc cancels)")) {
            return;
        }
        result = keep(job.getResult(), save);
        installedModel.set(job.getInstalledModel());
        logInstalled(TITLE, installedModel.get());
        done(result, params);
    }

    /** Tells the user where a trained model went and the name Denoise… lists it under. */
    static void logInstalled(String title, Path model) {
        IJ.log(title + ": model installed as " + model + " (Denoise… lists it as '"
                + model.getFileName().toString().replaceFirst("\\.onnx$", "") + "').");
    }
}
