package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import java.nio.file.Path;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.Params;
import org.fluorecon.server.ServerClient;

/**
 * Plugins › fluorecon › Train on this image…  Trains a Noise2Void / Noise2Self denoiser on the current
 * (noisy) image on the model server, installs the model in the plugin's models folder (Denoise…
 * lists it) and shows the image denoised by it. Macro:
 * {@code run("Train on this image...", "method=n2v steps=1000 ndim=2 name=[my n2v] models_dir=/path/models")};
 * {@code save=/path/out.tif} also writes the denoised image. {@code struct_n2v_axis=horizontal} (or vertical)
 * trains structN2V for noise correlated along X (Y).
 */
@Menu(path = "Plugins>fluorecon>Denoise", label = "Train on this image...")
public class TrainDenoise_ extends TrainCommand {
    static final String TITLE = "fluorecon Train on this image";

    private TrainDenoiseServerJob.Settings s;

    public TrainDenoise_() {
        super(TITLE, "method=n2v steps=1000 ndim=2 name=[my n2v]",
                "sending the image to the server (training runs there; Esc cancels)");
    }

    @Override
    protected void addFields(Params params) {
        s = new TrainDenoiseServerJob.Settings();
        params.choice("method", TrainDenoiseServerJob.METHODS.toArray(new String[0]), s.method, v -> s.method = v);
        params.integer("steps", s.steps, v -> s.steps = v);
        params.integer("ndim", s.ndim, v -> s.ndim = v);
        params.text("name", "", v -> s.name = v);
        params.choice("struct_n2v_axis", TrainDenoiseServerJob.SPEC.choices("struct_n2v_axis").toArray(new String[0]),
                s.structN2vAxis, v -> s.structN2vAxis = v);
    }

    @Override
    protected TrainServerJob<?> job(ImagePlus imp, Path modelsFolder, ServerClient client) {
        return new TrainDenoiseServerJob(imp, s, modelsFolder, client);
    }
}
