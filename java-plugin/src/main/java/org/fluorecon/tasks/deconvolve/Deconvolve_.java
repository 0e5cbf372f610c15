package org.fluorecon.tasks.deconvolve;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageToImageJob;
import org.fluorecon.ij.Commands;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.ij.Params;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Deconvolve…  RL, RL-accel, RL-TV and Wiener run on the model server;
 * learned runs locally through ONNX Runtime. Macro:
 * {@code run("Deconvolve...", "method=rl iterations=20 stop=discrepancy lambda=0.002 psf=[theoretical] na=1.4 wavelength_nm=520 ni=1.515 ns=1.33")},
 * {@code stop=discrepancy} (the default) ends RL when its residual reaches the noise level, {@code stop=none} runs all
 * iterations; the Log and the result's Info say where it ended;
 * Wiener's regularisation: {@code method=wiener balance=0.01} (larger: smoother, less ringing);
 * {@code psf=[title of an open PSF image]}, or {@code method=learned model_file=/path/model.onnx};
 * {@code save=/path/out.tif} also writes the result.
 */
@Menu(label = "Deconvolve...")
public class Deconvolve_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Deconvolve";
    static final String THEORETICAL = "[theoretical]";
    static final String LEARNED = "learned";

    public Deconvolve_() {
        super(TITLE, "Deconvolve");
    }

    @Override
    protected void execute(ImagePlus imp) {
        ModelChoice m = new ModelChoice();
        List<String> psfChoices = new ArrayList<>();
        psfChoices.add(THEORETICAL);
        for (String t : WindowManager.getImageTitles()) {
            if (imp == null || !t.equals(imp.getTitle())) {
                psfChoices.add(t);
            }
        }
        List<String> methods = new ArrayList<>(DeconvolveServerJob.METHODS);
        methods.add(LEARNED);
        DeconvolveServerJob.Settings s = new DeconvolveServerJob.Settings();
        Params params = new Params(TITLE, "method=rl-accel iterations=20 psf=[theoretical] na=1.4 wavelength_nm=520");
        params.choice("method", methods.toArray(new String[0]), s.method, v -> s.method = v);
        params.integer("iterations", s.iterations, v -> s.iterations = v);
        params.choice("stop", DeconvolveServerJob.STOPS.toArray(new String[0]), s.stop, v -> s.stop = v);
        params.decimal("lambda", s.tvLambda, 4, v -> s.tvLambda = v);
        params.decimal("balance", s.balance, 4, v -> s.balance = v);
        params.decimal("background", s.background, 1, v -> s.background = v);
        params.addChoice("psf", psfChoices.toArray(new String[0]), THEORETICAL);
        params.decimal("na", s.na, 2, v -> s.na = v);
        params.decimal("wavelength_nm", s.wavelengthNm, 0, v -> s.wavelengthNm = v);
        params.decimal("ni", s.ni, 3, v -> s.ni = v);
        params.decimal("ns", s.ns, 3, v -> s.ns = v);
        m.addModel(params, Commands.FILE_CHOICE);
        if (!params.show()) {
            return;
        }
        String psf = params.nextChoice("psf");
        String save = params.option("save", null);

        ImagePlus out = LEARNED.equals(s.method) ? learned(imp, m) : remote(imp, psf, s);
        if (out != null) { // null: cancelled, already reported
            done(keep(out, save), params);
        }
    }

    private ImagePlus remote(ImagePlus imp, String psf, DeconvolveServerJob.Settings s) {
        ImagePlus psfImage = null;
        // Macro.getValue strips one pair of brackets: "psf=[theoretical]" arrives as "theoretical"
        if (!THEORETICAL.equals(psf) && !"theoretical".equals(psf)) {
            psfImage = WindowManager.getImage(psf);
            if (psfImage == null) {
                throw new FluoreconException("psf = '" + psf + "' is not an open image; open the PSF (bead) image "
                        + "first, or use psf=[theoretical].");
            }
        }
        DeconvolveServerJob job = new DeconvolveServerJob(imp, psfImage, s, server());
        if (!runJob(job, "sending the image to the server")) {
            return null;
        }
        if (job.stopMessage() != null) { // where RL ended and why: also in the result's Info (deconvolve.stop)
            IJ.log(TITLE + ": " + imp.getTitle() + ": " + job.stopMessage());
        }
        return job.getResult();
    }

    private ImagePlus learned(ImagePlus imp, ModelChoice m) {
        Path model = m.resolve("method = learned needs a deconvolution model: model=NAME or "
                + "model_file=/path/to/model.onnx (train one with `fluorecon train deconvolve`).");
        ImageToImageJob job = new ImageToImageJob(imp, model, 0, 0, false, Predictor::open)
                .forTask("deconvolve", "Deconvolve", "-deconvolved");
        return runJob(job, "loading model") ? job.getResult() : null;
    }
}
