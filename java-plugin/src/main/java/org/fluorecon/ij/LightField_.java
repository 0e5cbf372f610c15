package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.plugin.PlugIn;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.Job;
import org.fluorecon.core.LensletGrid;
import org.fluorecon.core.LightFieldJob;
import org.fluorecon.core.ModelLibrary;
import org.fluorecon.onnx.Predictor;
import org.fluorecon.server.Json;
import org.fluorecon.server.RemoteLightField;
import org.fluorecon.server.RemoteLightFieldCalibration;
import org.fluorecon.server.ServerClient;

/**
 * Plugins › fluorecon › Light-field…  Calibrate a light-field camera from a white image (model
 * server job), or reconstruct a z-calibrated volume from one light-field image: {@code learned}
 * runs a VCD-style model locally in ONNX Runtime (views extracted here); {@code iterative} runs
 * Richardson–Lucy over the wave-optics projector on the model server (progress, Esc cancels).
 * Macros:
 * {@code run("Light-field...", "action=calibrate nnum=11 calibration=/path/cal.json")} on the white image;
 * {@code run("Light-field...", "action=reconstruct method=learned model=[file] model_file=/path/lightfield_vcd.onnx calibration=/path/cal.json")};
 * {@code run("Light-field...", "action=reconstruct method=iterative num_iter=8 nnum=11 magnification=20 na=0.5 z_min=-16 z_max=16 z_step=4")}.
 * An empty {@code calibration} means the image is already rectified; {@code save=/path/out.tif} also writes the result.
 */
public class LightField_ implements PlugIn {
    static final String TITLE = "fluorecon Light-field";
    static final String[] ACTIONS = {"reconstruct", "calibrate"};
    static final String[] METHODS = {"learned", "iterative"};

    private ImagePlus image;
    private ImagePlus result;
    private double[] progressShown = new double[0];
    private String jobId;
    private String calibrationJson;

    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    public ImagePlus getResult() {
        return result;
    }

    public String getJobId() {
        return jobId;
    }

    /** The lenslet grid JSON after {@code action=calibrate}. */
    public String getCalibrationJson() {
        return calibrationJson;
    }

    public double[] getProgressShown() {
        return progressShown.clone();
    }

    @Override
    public void run(String arg) {
        result = null;
        jobId = null;
        calibrationJson = null;
        try {
            ImagePlus imp = image != null ? image : WindowManager.getCurrentImage();
            Map<String, Path> models = ModelLibrary.list(ModelLibrary.folders(IJ.getDirectory("imagej")));
            List<String> names = new ArrayList<>(models.keySet());
            names.add(Commands.FILE_CHOICE);
            RemoteLightField.Settings s = new RemoteLightField.Settings();
            Params params = new Params(TITLE, "action=reconstruct method=learned model=[file] "
                    + "model_file=/path/lightfield_vcd.onnx calibration=/path/cal.json");
            boolean fileGiven = params.hasOption("model_file") && !params.hasOption("model");
            params.addChoice("action", ACTIONS, ACTIONS[0]);
            params.addChoice("method", METHODS, METHODS[0]);
            params.addChoice("model", names.toArray(new String[0]), fileGiven ? Commands.FILE_CHOICE : defaultModel(names));
            params.addFile("model_file", "");
            params.addFile("calibration", "");
            params.addNumber("num_iter", s.numIter);
            params.addDecimal("background", s.background, 1);
            params.addNumber("nnum", s.nnum);
            params.addDecimal("magnification", s.magnification, 1);
            params.addDecimal("na", s.na, 2);
            params.addDecimal("wavelength", s.wavelengthNm, 1);
            params.addDecimal("pitch", s.lensletPitchUm, 1);
            params.addDecimal("focal", s.lensletFocalUm, 1);
            params.addDecimal("z_min", s.zMinUm, 2);
            params.addDecimal("z_max", s.zMaxUm, 2);
            params.addDecimal("z_step", s.zStepUm, 2);
            params.addNumber("tile", 0);
            params.addNumber("threads", 0);
            params.addCheckbox("use_gpu", false);
            if (!params.show()) {
                return;
            }
            String action = params.nextChoice("action");
            String method = params.nextChoice("method");
            String choice = params.nextChoice("model");
            String file = params.nextFile("model_file").trim();
            String calibration = params.nextFile("calibration").trim();
            s.numIter = params.nextInt("num_iter");
            s.background = params.nextDouble("background");
            s.nnum = params.nextInt("nnum");
            s.magnification = params.nextDouble("magnification");
            s.na = params.nextDouble("na");
            s.wavelengthNm = params.nextDouble("wavelength");
            s.lensletPitchUm = params.nextDouble("pitch");
            s.lensletFocalUm = params.nextDouble("focal");
            s.zMinUm = params.nextDouble("z_min");
            s.zMaxUm = params.nextDouble("z_max");
            s.zStepUm = params.nextDouble("z_step");
            int tile = params.nextInt("tile");
            int threads = params.nextInt("threads");
            boolean useGpu = params.nextBoolean("use_gpu");
            String save = params.option("save", null);

            ImagePlus out;
            if ("calibrate".equals(action)) {
                out = calibrate(imp, s.nnum, calibration);
            } else if ("iterative".equals(method)) {
                s.calibration = calibration.isEmpty() ? null : readCalibration(calibration);
                out = runJob(new RemoteLightField(imp, s, ServerClient.fromConfig()), "Light-field (server)");
            } else if ("learned".equals(method)) {
                Path model = Commands.resolveModel(choice, file, models, "No model chosen; install a light-field model "
                        + "(models/lightfield_vcd.onnx) in " + ModelLibrary.folders(IJ.getDirectory("imagej"))
                        + " or give model=[file] model_file=/path/to/lightfield_vcd.onnx.");
                LensletGrid grid = calibration.isEmpty() ? null : LensletGrid.fromMap(readCalibration(calibration));
                IJ.showStatus("Light-field: loading model...");
                out = runJob(new LightFieldJob(imp, model, tile, threads, useGpu, Predictor::open, grid), null);
            } else {
                throw new FluoreconException("method = '" + method + "' is not known; use learned or iterative.");
            }
            if (out == null) {
                return;
            }
            Commands.save(out, save);
            result = out;
            IJ.showStatus("Light-field: done");
            Commands.show(out, params);
        } catch (FluoreconException e) {
            Commands.fail(TITLE, e.getMessage());
        }
    }

    /** Preselects an installed light-field model when there is one. */
    private static String defaultModel(List<String> names) {
        for (String n : names) {
            if (n.contains("lightfield")) {
                return n;
            }
        }
        return names.get(0);
    }

    private ImagePlus calibrate(ImagePlus white, int nnum, String saveJson) {
        RemoteLightFieldCalibration job = new RemoteLightFieldCalibration(white, nnum, ServerClient.fromConfig());
        ImagePlus out = runJob(job, "Light-field calibration (server)");
        if (out == null) {
            return null;
        }
        calibrationJson = job.getCalibrationJson();
        IJ.log("Light-field calibration: " + calibrationJson);
        if (!saveJson.isEmpty()) {
            try {
                Path p = Path.of(saveJson);
                Path tmp = Files.createTempFile(p.toAbsolutePath().getParent(), ".cal-", ".json.part");
                Files.write(tmp, calibrationJson.getBytes(StandardCharsets.UTF_8));
                Files.move(tmp, p, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new FluoreconException("Cannot write the calibration to " + saveJson + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    private static Map<String, Object> readCalibration(String path) {
        try {
            return Json.parseObject(Files.readString(Path.of(path)));
        } catch (IOException e) {
            throw new FluoreconException("Cannot read the calibration " + path + " (" + e.getMessage() + "); make one "
                    + "with action=calibrate on a white image or `fluorecon lightfield calibrate`.", e);
        } catch (RuntimeException e) {
            throw new FluoreconException("The calibration " + path + " is not JSON (" + e.getMessage() + ").", e);
        }
    }

    /** Runs a local or server job with progress and Esc; null when the user cancelled. */
    private ImagePlus runJob(Job job, String serverStatus) {
        Commands.check(job);
        IJ.resetEscape();
        StatusProgress progress = new StatusProgress("Light-field", serverStatus == null ? "tile" : null);
        if (serverStatus != null) {
            IJ.showStatus(serverStatus + ": sending the image...");
        }
        boolean ok;
        try {
            ok = Commands.process(TITLE, job, progress);
        } finally {
            progressShown = progress.history();
            if (job instanceof RemoteLightField) {
                jobId = ((RemoteLightField) job).getJobId();
            } else if (job instanceof RemoteLightFieldCalibration) {
                jobId = ((RemoteLightFieldCalibration) job).getJobId();
            }
        }
        if (!ok) {
            return null;
        }
        if (job instanceof LightFieldJob) {
            return ((LightFieldJob) job).getResult();
        }
        if (job instanceof RemoteLightField) {
            return ((RemoteLightField) job).getResult();
        }
        return ((RemoteLightFieldCalibration) job).getResult();
    }
}
