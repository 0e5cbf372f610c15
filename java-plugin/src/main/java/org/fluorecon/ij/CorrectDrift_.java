package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.Plot;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import java.awt.Color;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.RemoteDriftCorrection;
import org.fluorecon.server.ServerClient;

/**
 * Plugins › fluorecon › Correct drift…  Sub-pixel translation drift correction of a time series
 * on the model server; output: the aligned stack ({@code <title>-aligned}), a results table with
 * the drift per frame and, with a display, a plot of the drift trace. Macro:
 * {@code run("Correct drift...", "reference=mean channel=1 upsample=20 save=/path/out.tif")}.
 */
public class CorrectDrift_ implements PlugIn {
    static final String TITLE = "fluorecon Correct drift";
    private static final Color[] COLOURS = {Color.BLUE, Color.RED, new Color(0, 150, 0)};

    private ImagePlus image;
    private ImagePlus result;
    private ResultsTable table;
    private double[] progressShown = new double[0];
    private String jobId;

    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    public ImagePlus getResult() {
        return result;
    }

    /** The drift per frame of the last successful run (columns as `fluorecon register --drift-csv`). */
    public ResultsTable getDriftTable() {
        return table;
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
        table = null;
        jobId = null;
        try {
            ImagePlus imp = image != null ? image : WindowManager.getCurrentImage();
            RemoteDriftCorrection.Settings s = new RemoteDriftCorrection.Settings();
            Params params = new Params(TITLE, "reference=first channel=1");
            params.addChoice("reference", RemoteDriftCorrection.REFERENCES.toArray(new String[0]), s.reference);
            params.addNumber("channel", s.channel);
            params.addNumber("upsample", s.upsample);
            if (!params.show()) {
                return;
            }
            s.reference = params.nextChoice("reference");
            s.channel = params.nextInt("channel");
            s.upsample = params.nextInt("upsample");
            String save = params.option("save", null);

            RemoteDriftCorrection job = new RemoteDriftCorrection(imp, s, ServerClient.fromConfig());
            Commands.check(job);
            IJ.resetEscape();
            StatusProgress progress = new StatusProgress("Correct drift", null);
            IJ.showStatus("Correct drift: sending the image to the server...");
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
            table = job.driftTable();
            IJ.showStatus("Correct drift: done");
            if (!params.isHeadless()) {
                table.show("Drift of " + imp.getTitle());
                plot(job, imp.getTitle()).show();
            }
            Commands.show(out, params);
        } catch (FluoreconException e) {
            Commands.fail(TITLE, e.getMessage());
        }
    }

    private static Plot plot(RemoteDriftCorrection job, String title) {
        double[][] drift = job.getDrift();
        double[] frames = new double[drift.length];
        for (int t = 0; t < frames.length; t++) {
            frames[t] = t + 1;
        }
        Plot plot = new Plot("Drift of " + title, "frame", "drift (px)");
        StringBuilder legend = new StringBuilder();
        for (int k = 0; k < job.getDriftAxes().size(); k++) {
            double[] v = new double[drift.length];
            for (int t = 0; t < v.length; t++) {
                v[t] = drift[t][k];
            }
            plot.setColor(COLOURS[k % COLOURS.length]);
            plot.add("line", frames, v);
            legend.append('d').append(job.getDriftAxes().get(k)).append('\n');
        }
        plot.addLegend(legend.toString().trim());
        plot.setLimitsToFit(true);
        return plot;
    }
}
