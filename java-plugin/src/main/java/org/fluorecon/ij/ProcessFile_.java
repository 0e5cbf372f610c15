package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.JobSpec;
import org.fluorecon.server.Json;
import org.fluorecon.server.LocalFileJob;

/**
 * Plugins › fluorecon › Process file…  Runs a command on a file too large to open: the model server reads the
 * file by path and writes the output block by block (OME-Zarr or an ImageJ TIFF); a TIFF output then opens as a
 * virtual stack, an OME-Zarr output is reported in the Log. The server must run on this machine under a user who
 * can read the input and write the output's folder. Macro:
 * {@code run("Process file...", "file=/data/big.tif command=deconvolve method=rl iterations=20 na=1.4
 * wavelength_nm=520 save=/data/big-deconvolved.zarr")}, or {@code command=denoise-classical method=nlm} (any method
 * of {@code fluorecon denoise-classical}: nlm, bm3d, vst-bm3d, vst-nlm, gaussian, median), or
 * {@code command=predict model_file=/models/care_denoise_2d.onnx} (any fluorecon image-to-image model file, on the
 * server's machine; the server runs it block by block as {@code fluorecon predict IN OUT.zarr|.tif}).
 * The calibration comes from the file (a theoretical PSF needs it). A cross-task command: it knows the jobs it
 * runs by their specs ({@link JobSpec}: defaults and methods), not by the tasks' classes.
 */
@Menu(label = "Process file...")
public class ProcessFile_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Process file";
    static final String[] COMMANDS = {"deconvolve", "denoise-classical", "predict"};
    private static final JobSpec DECONVOLVE = JobSpec.of("deconvolve");
    private static final JobSpec DENOISE = JobSpec.of("denoise-classical");
    private String message = "";

    public ProcessFile_() {
        super(TITLE, "Process file");
    }

    /** The server's summary of the last run ("Wrote …"), or "". */
    public String getMessage() {
        return message;
    }

    @Override
    protected void execute(ImagePlus ignored) {
        Deconvolution s = new Deconvolution();
        String[] command = {COMMANDS[0]};
        String[] method = {""};
        String[] file = {""};
        String[] save = {""};
        String[] modelFile = {""};
        Params params = new Params(TITLE, "file=/data/big.tif command=deconvolve method=rl iterations=20 na=1.4 "
                + "wavelength_nm=520 save=/data/big-deconvolved.zarr");
        params.file("file", "", v -> file[0] = v);
        params.choice("command", COMMANDS, COMMANDS[0], v -> command[0] = v);
        params.text("method", "", v -> method[0] = v);
        params.integer("iterations", s.iterations, v -> s.iterations = v);
        params.decimal("na", s.na, 2, v -> s.na = v);
        params.decimal("wavelength_nm", s.wavelengthNm, 0, v -> s.wavelengthNm = v);
        params.file("model_file", "", v -> modelFile[0] = v);
        params.text("save", "", v -> save[0] = v);
        if (!params.show()) {
            return;
        }
        Path input = absolute(file[0], "file", "the input file (TIFF, OME-TIFF or an OME-Zarr folder)");
        Path output = absolute(save[0], "save", "the output (.zarr, or .tif to open it as a virtual stack)");
        if (!Files.exists(input)) {
            throw new FluoreconException("file = '" + input + "' does not exist; give the path of the image to "
                    + "process.");
        }
        Map<String, Object> spec = "predict".equals(command[0])
                ? Json.object("task", "predict", "model_file", absolute(modelFile[0], "model_file",
                        "the fluorecon model file (.onnx) for command=predict").toString())
                : spec(command[0], method[0], s);
        LocalFileJob job = new LocalFileJob(server(), spec, input.toString(), output.toString(),
                "Process file (" + command[0] + ")");
        boolean ok = runJob(job, "the server is processing " + input.getFileName());
        jobId = job.getJobId();
        if (!ok) {
            return; // cancelled, already reported
        }
        message = job.getMessage();
        IJ.log(TITLE + ": " + message);
        String name = output.getFileName().toString().toLowerCase();
        if (name.endsWith(".tif") || name.endsWith(".tiff")) {
            ImagePlus out = IJ.openVirtual(output.toString());
            if (out == null) {
                throw new FluoreconException("The server wrote " + output + " but ImageJ cannot open it as a "
                        + "virtual stack.");
            }
            result = out;
            done(out, params);
        } else {
            IJ.showStatus(label + ": done, " + output.getFileName() + " written (OME-Zarr: open it with "
                    + "File › Import › Bio-Formats or an OME-Zarr reader)");
        }
    }

    private static Path absolute(String text, String key, String what) {
        if (text == null || text.isBlank()) {
            throw new FluoreconException(key + "= is missing: give " + what + ".");
        }
        return Path.of(text).toAbsolutePath().normalize();
    }

    /** The deconvolution settings it offers; the defaults are the spec's. */
    static final class Deconvolution {
        String method = DECONVOLVE.string("method");
        int iterations = DECONVOLVE.integer("num_iter");
        double na = DECONVOLVE.number("psf.na");
        double wavelengthNm = DECONVOLVE.number("psf.wavelength_nm");
    }

    static Map<String, Object> spec(String command, String method, Deconvolution s) {
        if ("denoise-classical".equals(command)) {
            String m = method.isBlank() ? DENOISE.string("method") : method;
            List<String> methods = DENOISE.choices("method");
            if (!methods.contains(m)) {
                throw new FluoreconException("method = '" + m + "' is not a classical denoiser; use one of "
                        + methods + ".");
            }
            return Json.object("task", "denoise-classical", "method", m);
        }
        if (!"deconvolve".equals(command)) {
            throw new FluoreconException("command = '" + command + "': use deconvolve, denoise-classical or predict.");
        }
        String m = method.isBlank() ? s.method : method;
        List<String> methods = DECONVOLVE.choices("method");
        if (!methods.contains(m)) {
            throw new FluoreconException("method = '" + m + "' is not a deconvolution method here; use one of "
                    + methods + ".");
        }
        return Json.object("task", "deconvolve", "method", m, "num_iter", s.iterations,
                "psf", Json.object("na", s.na, "wavelength_nm", s.wavelengthNm));
    }
}
