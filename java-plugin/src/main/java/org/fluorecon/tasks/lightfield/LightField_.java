package org.fluorecon.tasks.lightfield;

import ij.IJ;
import ij.ImagePlus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.core.AtomicFiles;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.ij.Output;
import org.fluorecon.ij.Params;
import org.fluorecon.onnx.Predictor;
import org.fluorecon.server.Json;

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
@Menu(label = "Light-field...")
public class LightField_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Light-field";
    static final String[] ACTIONS = {"reconstruct", "calibrate"};
    static final String[] METHODS = {"learned", "iterative"};

    private final Output<String> calibrationJson = output();

    public LightField_() {
        super(TITLE, "Light-field");
    }

    /** The lenslet grid JSON after {@code action=calibrate}. */
    public String getCalibrationJson() {
        return calibrationJson.get();
    }

    @Override
    protected void execute(ImagePlus imp) {
        ModelChoice m = new ModelChoice();
        LightFieldServerJob.Settings s = new LightFieldServerJob.Settings();
        Params params = new Params(TITLE, "action=reconstruct method=learned model=[file] "
                + "model_file=/path/lightfield_vcd.onnx calibration=/path/cal.json");
        params.addChoice("action", ACTIONS, ACTIONS[0]);
        params.addChoice("method", METHODS, METHODS[0]);
        m.addModel(params, m.first(n -> n.contains("lightfield")));
        params.addFile("calibration", "");
        params.settings(s, "num_iter", "background", "nnum", "magnification", "na", "wavelength", "pitch", "focal",
                "z_min", "z_max", "z_step");
        m.addRuntime(params);
        if (!params.show()) {
            return;
        }
        String action = params.nextChoice("action");
        String method = params.nextChoice("method");
        String calibration = params.nextFile("calibration").trim();
        String save = params.option("save", null);

        ImagePlus out;
        if ("calibrate".equals(action)) {
            out = calibrate(imp, s.nnum, calibration);
        } else if ("iterative".equals(method)) {
            s.calibration = calibration.isEmpty() ? null : readCalibration(calibration);
            LightFieldServerJob job = new LightFieldServerJob(imp, s, server());
            out = runJob(job, "sending the image") ? job.getResult() : null;
        } else if ("learned".equals(method)) {
            Path model = m.resolve("No model chosen; install a light-field model (models/lightfield_vcd.onnx) in "
                    + ModelChoice.folders() + " or give model=[file] model_file=/path/to/lightfield_vcd.onnx.");
            LensletGrid grid = calibration.isEmpty() ? null : LensletGrid.fromMap(readCalibration(calibration));
            LightFieldJob job = new LightFieldJob(imp, model, m.tile, m.threads, m.useGpu, Predictor::open, grid);
            out = runLocal(job, "tile") ? job.getResult() : null;
        } else {
            throw new FluoreconException("method = '" + method + "' is not known; use learned or iterative.");
        }
        if (out == null) {
            return;
        }
        done(keep(out, save), params);
    }

    private ImagePlus calibrate(ImagePlus white, int nnum, String saveJson) {
        LightFieldCalibrationServerJob job = new LightFieldCalibrationServerJob(white, nnum, server());
        if (!runJob(job, "sending the white image")) {
            return null;
        }
        ImagePlus out = job.getResult();
        calibrationJson.set(job.getCalibrationJson());
        IJ.log("Light-field calibration: " + calibrationJson.get());
        if (!saveJson.isEmpty()) {
            try {
                AtomicFiles.writeText(Path.of(saveJson), calibrationJson.get());
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
}
