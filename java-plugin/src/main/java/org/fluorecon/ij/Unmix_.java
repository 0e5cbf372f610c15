package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.plugin.PlugIn;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.RemoteUnmix;
import org.fluorecon.server.ServerClient;

/**
 * Plugins › fluorecon › Unmix…  Spectral unmixing on the model server: one output channel per
 * label (+ the residual map's channels). Macro:
 * {@code run("Unmix...", "method=nnls spectra=[DAPI,EGFP,mCherry] labels=0 offset=100 lambda_start=430 lambda_stop=710 residual")},
 * blind: {@code method=nmf labels=3}; {@code save=/path/out.tif} also writes the result.
 * Built-in spectra: DAPI, Hoechst, EGFP, mNeonGreen, Alexa488, Alexa555, Alexa568, Alexa647,
 * mCherry, tdTomato, Cy5.
 */
public class Unmix_ implements PlugIn {
    static final String TITLE = "fluorecon Unmix";

    private ImagePlus image;
    private ImagePlus result;
    private double[] progressShown = new double[0];
    private String jobId;

    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    public ImagePlus getResult() {
        return result;
    }

    public String getJobId() {
        return jobId;
    }

    public double[] getProgressShown() {
        return progressShown.clone();
    }

    @Override
    public void run(String arg) {
        result = null;
        jobId = null;
        try {
            ImagePlus imp = image != null ? image : WindowManager.getCurrentImage();
            RemoteUnmix.Settings s = new RemoteUnmix.Settings();
            Params params = new Params(TITLE, "method=nnls spectra=[DAPI,EGFP,mCherry] offset=100");
            params.addChoice("method", RemoteUnmix.METHODS.toArray(new String[0]), s.method);
            params.addString("spectra", "DAPI,EGFP,mCherry");
            params.addNumber("labels", s.labels);
            params.addDecimal("offset", s.offset, 1);
            params.addDecimal("lambda_start", s.lambdaStartNm, 1);
            params.addDecimal("lambda_stop", s.lambdaStopNm, 1);
            params.addCheckbox("residual", s.residual);
            if (!params.show()) {
                return;
            }
            s.method = params.nextChoice("method");
            s.spectra = params.nextString("spectra");
            s.labels = params.nextInt("labels");
            s.offset = params.nextDouble("offset");
            s.lambdaStartNm = params.nextDouble("lambda_start");
            s.lambdaStopNm = params.nextDouble("lambda_stop");
            s.residual = params.nextBoolean("residual");
            String save = params.option("save", null);

            RemoteUnmix job = new RemoteUnmix(imp, s, ServerClient.fromConfig());
            Commands.check(job);
            IJ.resetEscape();
            StatusProgress progress = new StatusProgress("Unmix", null);
            IJ.showStatus("Unmix: sending the image to the server...");
            boolean ok;
            try {
                ok = Commands.process(TITLE, job, progress);
            } finally {
                progressShown = progress.history();
                jobId = job.getJobId();
            }
            if (!ok) {
                return;
            }
            ImagePlus out = job.getResult();
            Commands.save(out, save);
            result = out;
            IJ.showStatus("Unmix: done");
            Commands.show(out, params);
        } catch (FluoreconException e) {
            Commands.fail(TITLE, e.getMessage());
        }
    }
}
