package org.fluorecon.tasks.localize;

import ij.IJ;
import ij.ImagePlus;
import ij.macro.Interpreter;
import ij.measure.ResultsTable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.TiffFiles;
import org.fluorecon.ij.Commands;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.ij.Output;
import org.fluorecon.ij.Params;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › Localize (SMLM)…  Deep-STORM or DECODE-style localisation of a time
 * stack, or the classical MLE Gaussian fit on the model server ({@code model=mle}, with {@code psf_sigma_nm} and
 * {@code read_noise} in electrons): a ResultsTable, a ThunderSTORM CSV and a Gaussian rendering, the same for
 * every method. Macro:
 * {@code run("Localize (SMLM)...", "model=deepstorm_2d camera_offset=100 camera_gain=1 em_gain=1 qe=1 threshold=0 render_pixel_nm=10 save=/path/locs.csv")};
 * {@code threshold=0} takes the model card's, {@code camera_pixel_nm=0} the image calibration;
 * {@code render=/path/render.tif} also saves the rendering; {@code table=/path/table.csv} the Localizations
 * table as CSV (its columns as shown; headless, the way to get it).
 */
@Menu(label = "Localize (SMLM)...")
public class Localize_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Localize";

    private final Output<Localizations> table = output();
    private final Output<ImagePlus> rendering = output();
    private double seconds;

    public Localize_() {
        super(TITLE, "Localize");
    }

    /** Localisations of the last successful run; null otherwise. */
    public Localizations getTable() {
        return table.get();
    }

    public ImagePlus getRendering() {
        return rendering.get();
    }

    /** Seconds the last run's localisation took (model + peaks + rendering). */
    public double getSeconds() {
        return seconds;
    }

    @Override
    protected void execute(ImagePlus imp) {
        ModelChoice m = new ModelChoice();
        m.alsoOffer(List.of(LocalizeServerJob.METHOD));
        LocalizeJob.Settings s = new LocalizeJob.Settings();
        Params params = new Params(TITLE, "model_file=/path/to/deepstorm_2d.onnx camera_offset=100 camera_gain=1 "
                + "save=/path/to/locs.csv");
        m.addModel(params, m.first("deepstorm_2d"::equals));
        params.decimal("camera_offset", s.cameraOffset, 1, v -> s.cameraOffset = v);
        params.decimal("camera_gain", s.gain, 3, v -> s.gain = v);
        params.decimal("em_gain", s.emGain, 1, v -> s.emGain = v);
        params.decimal("qe", s.qe, 2, v -> s.qe = v);
        params.decimal("threshold", 0, 3, v -> s.threshold = v);
        params.decimal("camera_pixel_nm", 0, 1, v -> s.pixelNm = v);
        params.decimal("render_pixel_nm", s.renderPixelNm, 1, v -> s.renderPixelNm = v);
        params.decimal("psf_sigma_nm", s.sigmaNm, 1, v -> s.sigmaNm = v);
        params.decimal("read_noise", s.readNoiseE, 2, v -> s.readNoiseE = v);
        params.integer("batch", s.batchFrames, v -> s.batchFrames = v);
        params.integer("threads", 0, v -> s.threads = v);
        params.checkbox("use_gpu", false, v -> s.useGpu = v);
        if (!params.show()) {
            return;
        }
        String save = params.option("save", null);
        String renderSave = params.option("render", null);
        String tableSave = params.option("table", null);

        Localizations locs;
        ImagePlus rendered;
        int frames;
        String where;
        long t0 = System.nanoTime();
        if (LocalizeServerJob.METHOD.equals(m.chosen())) {
            LocalizeServerJob job = new LocalizeServerJob(imp, s, server());
            if (!runJob(job, "sending the stack to the server")) {
                return;
            }
            locs = job.getTable();
            rendered = job.getResult();
            frames = job.frames();
            where = "MLE fit on the server";
            seconds = (System.nanoTime() - t0) / 1e9;
        } else {
            Path model = m.resolve("No model chosen; install deepstorm_2d.onnx or decode_2d.onnx in "
                    + ModelChoice.folders() + ", give model_file=/path/to/model.onnx, or use model=mle (the MLE fit, "
                    + "on the server).");
            LocalizeJob job = new LocalizeJob(imp, model, s, Predictor::open);
            if (!runLocal(job, "frame")) {
                return;
            }
            locs = job.getTable();
            rendered = job.getRendering();
            frames = job.frames();
            where = job.getModel().provider();
            seconds = job.seconds();
        }
        if (save != null && !save.isBlank()) {
            try {
                ThunderStormCsv.write(Path.of(save.trim()), locs);
            } catch (IOException e) {
                throw new FluoreconException("Cannot save the localisations to " + save + ": " + e.getMessage(), e);
            }
        }
        if (renderSave != null && !renderSave.isBlank()) {
            try {
                TiffFiles.saveAtomic(rendered, Path.of(renderSave.trim()));
            } catch (IOException e) {
                throw new FluoreconException("Cannot save the rendering to " + renderSave + ": " + e.getMessage(), e);
            }
        }
        Commands.saveTable(locs.toResultsTable(), tableSave, "the localisation table");
        table.set(locs);
        rendering.set(rendered);
        String done = String.format(Locale.ROOT, "Localize: %d localisations in %d frames (%.1f frames/s, %s)",
                locs.size(), frames, frames / Math.max(seconds, 1e-9), where);
        IJ.showStatus(done);
        if (!params.isHeadless() || IJ.isMacro() || Interpreter.isBatchMode()) {
            ResultsTable rt = locs.toResultsTable();
            if (!params.isHeadless()) {
                rt.show("Localizations");
            }
            rendered.show();
        }
    }
}
