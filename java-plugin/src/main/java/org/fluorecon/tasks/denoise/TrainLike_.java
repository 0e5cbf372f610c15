package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import java.nio.file.Path;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.Params;
import org.fluorecon.server.ServerClient;

/**
 * Plugins › fluorecon › Denoise › Train for my microscope…  Fits the training simulation to the current channel's
 * raw Z or T stack, or its one plane (pixel size from its calibration, camera noise estimated from every plane, light
 * level and structure from {@code plane=}, 0-based, empty: the brightest, as {@code --like}; NA and emission
 * wavelength as given) and fine-tunes a shipped model on it ({@code model_task}: denoise, deconvolve or upsample ×2), on the model
 * server; installs the model in the plugin's models folder (Denoise…, Deconvolve…, Super-resolve… list it) and shows
 * the plane fitted to, restored by it. The way forward an out-of-distribution warning names. Macro:
 * {@code run("Train for my microscope...", "model_task=denoise na=1.4 wavelength_nm=520 pixel_size_nm=0 steps=300 name=[my scope] models_dir=/path/models")};
 * {@code save=/path/out.tif} also writes the restored frame. A frame that does not show its shot noise (a bead crop,
 * mostly background) needs the camera's calibration: {@code gain=2.5 background=100 read_noise_e=1.6} (ADU per
 * photon, offset ADU, electrons rms; each left empty is estimated from the frame).
 */
@Menu(path = "Plugins>fluorecon>Denoise", label = "Train for my microscope...")
public class TrainLike_ extends TrainCommand {
    static final String TITLE = "fluorecon Train for my microscope";

    private TrainLikeServerJob.Settings s;

    public TrainLike_() {
        super(TITLE, "model_task=denoise na=1.4 wavelength_nm=520 pixel_size_nm=0 steps=300 name=[my scope]",
                "sending the stack to the server (fitting and training run there; Esc cancels)");
    }

    @Override
    protected void addFields(Params params) {
        s = new TrainLikeServerJob.Settings();
        params.choice("model_task", TrainLikeServerJob.SPEC.choices("model_task").toArray(new String[0]), s.modelTask,
                v -> s.modelTask = v);
        // NA and wavelength start at 0 (not set): the user states them, a default would be a guess.
        params.decimal("na", 0, 2, v -> s.na = v);
        params.decimal("wavelength_nm", 0, 0, v -> s.wavelengthNm = v);
        params.decimal("pixel_size_nm", s.pixelSizeNm, 1, v -> s.pixelSizeNm = v);
        params.integer("steps", s.steps, v -> s.steps = v);
        params.text("name", "", v -> s.name = v);
        // The camera's calibration, for frames that do not show their shot noise; empty: estimated from the frame.
        params.text("gain", "", v -> s.gain = TrainLikeServerJob.cameraValue("gain", v));
        params.text("background", "", v -> s.background = TrainLikeServerJob.cameraValue("background", v));
        params.text("read_noise_e", "", v -> s.readNoiseE = TrainLikeServerJob.cameraValue("read_noise_e", v));
        // Of a stack: the plane fitted to (0-based, as the job and --plane); empty: the brightest, chosen on the server.
        params.text("plane", "", v -> s.plane = TrainLikeServerJob.planeValue(v));
    }

    @Override
    protected TrainServerJob<?> job(ImagePlus imp, Path modelsFolder, ServerClient client) {
        return new TrainLikeServerJob(imp, s, modelsFolder, client);
    }
}
