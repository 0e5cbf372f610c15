package org.fluorecon.tasks.unmix;

import ij.ImagePlus;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.plugin.frame.RoiManager;
import java.awt.GraphicsEnvironment;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.Params;

/**
 * Plugins › fluorecon › Unmix…  Spectral unmixing on the model server: one output channel per
 * label (+ the residual map's channels). Macro:
 * {@code run("Unmix...", "method=nnls spectra=[DAPI,EGFP,mCherry] labels=0 offset=100 lambda_start=430 lambda_stop=710 residual")},
 * blind: {@code method=nmf labels=3}; {@code save=/path/out.tif} also writes the result.
 * Spectra from ROIs: {@code source=rois background=last_roi} measures one spectrum per ROI of the ROI
 * Manager (else of the image's overlay), the last ROI marking background, and unmixes with them by
 * NNLS; the output's channels are named after the ROIs.
 * Built-in spectra: DAPI, Hoechst, EGFP, mNeonGreen, Alexa488, Alexa555, Alexa568, Alexa647,
 * mCherry, tdTomato, Cy5.
 */
@Menu(label = "Unmix...")
public class Unmix_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Unmix";
    static final String[] SOURCES = {"built-in", "rois"};
    static final String[] BACKGROUNDS = {"none", "last_roi"};

    public Unmix_() {
        super(TITLE, "Unmix");
    }

    /**
     * The ROI Manager's ROIs when it holds any, else the image's overlay (headless and scripts).
     * Headless there is no ROI Manager: {@link RoiManager#getInstance()} would build a batch-mode one
     * in a macro, a Frame, and throw a HeadlessException, so only the overlay is read.
     */
    static Roi[] rois(ImagePlus imp) {
        RoiManager manager = GraphicsEnvironment.isHeadless() ? null : RoiManager.getInstance();
        if (manager != null && manager.getCount() > 0) {
            return manager.getRoisAsArray();
        }
        Overlay overlay = imp.getOverlay();
        return overlay == null ? new Roi[0] : overlay.toArray();
    }

    @Override
    protected void execute(ImagePlus imp) {
        UnmixServerJob.Settings s = new UnmixServerJob.Settings();
        Params params = new Params(TITLE, "method=nnls spectra=[DAPI,EGFP,mCherry] offset=100");
        params.choice("method", UnmixServerJob.METHODS.toArray(new String[0]), s.method, v -> s.method = v);
        params.addChoice("source", SOURCES, SOURCES[0]);
        params.text("spectra", "DAPI,EGFP,mCherry", v -> s.spectra = v);
        params.integer("labels", s.labels, v -> s.labels = v);
        params.decimal("offset", s.offset, 1, v -> s.offset = v);
        params.decimal("lambda_start", s.lambdaStartNm, 1, v -> s.lambdaStartNm = v);
        params.decimal("lambda_stop", s.lambdaStopNm, 1, v -> s.lambdaStopNm = v);
        params.addChoice("background", BACKGROUNDS, BACKGROUNDS[0]);
        params.checkbox("residual", s.residual, v -> s.residual = v);
        if (!params.show()) {
            return;
        }
        String source = params.nextChoice("source");
        String background = params.nextChoice("background");
        String save = params.option("save", null);
        if ("rois".equals(source)) {
            if (imp == null) {
                throw new FluoreconException("No image is open; open a multichannel or lambda-stack image first.");
            }
            RoiSpectra measured = RoiSpectra.measure(imp, rois(imp), s.offset, "last_roi".equals(background));
            s.mixing = measured.mixing;
            s.labelNames = measured.names;
            s.background = measured.background;
        } else if (!"built-in".equals(source)) {
            throw new FluoreconException("source = '" + source + "'; use built-in or rois.");
        }

        UnmixServerJob job = new UnmixServerJob(imp, s, server());
        if (runJob(job, "sending the image to the server")) {
            done(keep(job.getResult(), save), params);
        }
    }
}
