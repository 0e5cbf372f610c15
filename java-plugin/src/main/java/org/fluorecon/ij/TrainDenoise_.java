package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.plugin.PlugIn;
import java.nio.file.Path;
import java.util.List;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ModelLibrary;
import org.fluorecon.server.RemoteTraining;
import org.fluorecon.server.ServerClient;

/**
 * Plugins › fluorecon › Train on this image…  Trains a Noise2Void / Noise2Self denoiser on the current
 * (noisy) image on the model server, installs the model in the plugin's models folder (Denoise…
 * lists it) and shows the image denoised by it. Macro:
 * {@code run("Train on this image...", "method=n2v steps=1000 ndim=2 name=[my n2v] models_dir=/path/models")}.
 */
public class TrainDenoise_ implements PlugIn {
    static final String TITLE = "fluorecon Train on this image";

    private ImagePlus image;
    private ImagePlus result;
    private Path installedModel;
    private String jobId;

    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    /** The image denoised by the new model, after a successful run; null otherwise. */
    public ImagePlus getResult() {
        return result;
    }

    /** Where the last trained model was installed; null otherwise. */
    public Path getInstalledModel() {
        return installedModel;
    }

    public String getJobId() {
        return jobId;
    }

    @Override
    public void run(String arg) {
        result = null;
        installedModel = null;
        jobId = null;
        try {
            ImagePlus imp = image != null ? image : WindowManager.getCurrentImage();
            List<Path> folders = ModelLibrary.folders(IJ.getDirectory("imagej"));
            RemoteTraining.Settings s = new RemoteTraining.Settings();
            Params params = new Params(TITLE, "method=n2v steps=1000 ndim=2 name=[my n2v]");
            params.addChoice("method", RemoteTraining.METHODS.toArray(new String[0]), s.method);
            params.addNumber("steps", s.steps);
            params.addNumber("ndim", s.ndim);
            params.addString("name", "");
            params.addString("models_dir", folders.isEmpty() ? "" : folders.get(0).toString());
            if (!params.show()) {
                return;
            }
            s.method = params.nextChoice("method");
            s.steps = params.nextInt("steps");
            s.ndim = params.nextInt("ndim");
            s.name = params.nextString("name");
            String dir = params.nextString("models_dir").trim();

            RemoteTraining job = new RemoteTraining(imp, s, dir.isEmpty() ? null : Path.of(dir),
                    ServerClient.fromConfig());
            Commands.check(job);
            IJ.resetEscape();
            StatusProgress progress = new StatusProgress("Train", null);
            IJ.showStatus("Train: sending the image to the server (training runs there; Esc cancels)...");
            boolean ok;
            try {
                ok = Commands.process(TITLE, job, progress);
            } finally {
                jobId = job.getJobId();
            }
            if (!ok) {
                return;
            }
            result = job.getResult();
            installedModel = job.getInstalledModel();
            IJ.log(TITLE + ": model installed as " + installedModel + " (Denoise… lists it as '"
                    + installedModel.getFileName().toString().replaceFirst("\\.onnx$", "") + "').");
            IJ.showStatus("Train: done");
            Commands.show(result, params);
        } catch (FluoreconException e) {
            Commands.fail(TITLE, e.getMessage());
        }
    }
}
