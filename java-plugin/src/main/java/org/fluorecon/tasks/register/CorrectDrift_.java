package org.fluorecon.tasks.register;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.Plot;
import ij.measure.ResultsTable;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.ij.Commands;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.Output;
import org.fluorecon.ij.Params;
import org.fluorecon.tasks.localize.LocalizationTable;

/**
 * Plugins › fluorecon › Correct drift…  Sub-pixel translation drift correction of a time series
 * on the model server; output: the aligned stack ({@code <title>-aligned}), a results table with
 * the drift per frame and, with a display, a plot of the drift trace. Macro:
 * {@code run("Correct drift...", "reference=mean channel=1 upsample=20 save=/path/out.tif")}.
 *
 * <p>SMLM localisation tables ({@code input=table_file locs=/path/locs.csv}, or
 * {@code input=results_table} for the open Results table): drift by redundant cross-correlation
 * of {@code segments} time bins rendered at {@code bin_nm}; output: the corrected table with the
 * same columns ({@code save=/path/out.csv}; shown as a table with a display), the drift per frame
 * (table) and a plot of the x/y drift in nm. Macro:
 * {@code run("Correct drift...", "input=table_file locs=/p/locs.csv segments=15 bin_nm=20 save=/p/out.csv")}.
 * Both: {@code table=/path/drift.csv} saves the drift-per-frame table as CSV (headless, the way to get it).
 */
@Menu(label = "Correct drift...")
public class CorrectDrift_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Correct drift";
    static final String[] INPUTS = {"image", "table_file", "results_table"};
    private static final Color[] COLOURS = {Color.BLUE, Color.RED, new Color(0, 150, 0)};

    private final Output<ResultsTable> table = output();
    private String tableSave;
    private final Output<LocalizationTable> correctedTable = output();
    private final Output<Plot> driftPlot = output();

    public CorrectDrift_() {
        super(TITLE, "Correct drift");
    }

    /** The drift per frame of the last successful run (columns as `fluorecon register --drift-csv`). */
    public ResultsTable getDriftTable() {
        return table.get();
    }

    /** The corrected localisation table of the last successful table run; null otherwise. */
    public LocalizationTable getCorrectedTable() {
        return correctedTable.get();
    }

    /** The drift plot of the last successful run (x/y drift in nm for tables). */
    public Plot getDriftPlot() {
        return driftPlot.get();
    }

    @Override
    protected void execute(ImagePlus imp) {
        DriftCorrectionServerJob.Settings s = new DriftCorrectionServerJob.Settings();
        TableDriftServerJob.Settings ts = new TableDriftServerJob.Settings();
        Params params = new Params(TITLE, "reference=first channel=1  (tables: input=table_file locs=/path/locs.csv)");
        params.addChoice("input", INPUTS, imp == null ? INPUTS[1] : INPUTS[0]);
        params.choice("reference", DriftCorrectionServerJob.REFERENCES.toArray(new String[0]), s.reference,
                v -> s.reference = v);
        params.integer("channel", s.channel, v -> s.channel = v);
        params.integer("upsample", s.upsample, v -> s.upsample = v);
        params.addFile("locs", "");
        params.integer("segments", ts.segments, v -> ts.segments = v);
        params.decimal("bin_nm", ts.pixelNm, 1, v -> ts.pixelNm = v);
        if (!params.show()) {
            return;
        }
        String input = params.nextChoice("input");
        String locs = params.nextFile("locs");
        String save = params.option("save", null);
        tableSave = params.option("table", null);
        if (!"image".equals(input)) {
            correctTable(input, locs, ts, save, params);
            return;
        }

        DriftCorrectionServerJob job = new DriftCorrectionServerJob(imp, s, server());
        if (!runJob(job, "sending the image to the server")) {
            return;
        }
        Commands.saveTable(job.driftTable(), tableSave, "the drift table");
        ImagePlus out = keep(job.getResult(), save);
        table.set(job.driftTable());
        driftPlot.set(plot(job, imp.getTitle()));
        if (!params.isHeadless()) {
            table.get().show("Drift of " + imp.getTitle());
            driftPlot.get().show();
        }
        done(out, params);
    }

    private void correctTable(String input, String locs, TableDriftServerJob.Settings ts, String save, Params params) {
        LocalizationTable in;
        String name;
        if ("table_file".equals(input)) {
            if (locs == null || locs.isBlank()) {
                throw new FluoreconException("No table file: give locs=/path/to/localisations.csv (ThunderSTORM CSV).");
            }
            Path path = Path.of(locs.trim());
            if (!Files.isRegularFile(path)) {
                throw new FluoreconException("Table file " + path + " does not exist; give the path of a ThunderSTORM CSV.");
            }
            try {
                in = LocalizationTable.read(path);
            } catch (IOException e) {
                throw new FluoreconException("Cannot read " + path + ": " + e.getMessage(), e);
            }
            String file = path.getFileName().toString();
            name = file.toLowerCase().endsWith(".csv") ? file.substring(0, file.length() - 4) : file;
        } else if ("results_table".equals(input)) {
            ResultsTable rt = ResultsTable.getResultsTable();
            if (rt == null || rt.size() == 0) {
                throw new FluoreconException("The Results table is empty; import the localisations with File › Import › "
                        + "Results… or give input=table_file locs=/path/locs.csv.");
            }
            in = LocalizationTable.of(rt);
            name = "Results";
        } else {
            throw new FluoreconException("input = '" + input + "'; use image, table_file or results_table.");
        }
        TableDriftServerJob job = new TableDriftServerJob(in, name, ts, server());
        if (!runJob(job, "sending " + in.size() + " localisations to the server")) {
            return;
        }
        LocalizationTable out = job.getCorrected();
        Commands.saveTable(job.driftTable(), tableSave, "the drift table");
        if (save != null && !save.isBlank()) {
            try {
                out.write(Path.of(save.trim()));
            } catch (IOException e) {
                throw new FluoreconException("Cannot save the corrected table to " + save + ": " + e.getMessage(), e);
            }
        }
        correctedTable.set(out);
        table.set(job.driftTable());
        driftPlot.set(tablePlot(job.getDrift(), name));
        IJ.log(TITLE + ": " + name + ": " + job.getMessage());
        IJ.showStatus("Correct drift: done");
        if (!params.isHeadless()) {
            out.toResultsTable().show(name + "-corrected");
            table.get().show("Drift of " + name);
            driftPlot.get().show();
        }
    }

    private static Plot tablePlot(double[][] drift, String name) {
        double[] frames = new double[drift.length];
        double[] dx = new double[drift.length];
        double[] dy = new double[drift.length];
        for (int t = 0; t < drift.length; t++) {
            frames[t] = t + 1;
            dx[t] = drift[t][0];
            dy[t] = drift[t][1];
        }
        Plot plot = new Plot("Drift of " + name, "frame", "drift (nm)");
        plot.setColor(COLOURS[0]);
        plot.add("line", frames, dx);
        plot.setColor(COLOURS[1]);
        plot.add("line", frames, dy);
        plot.addLegend("dx\ndy");
        plot.setLimitsToFit(true);
        return plot;
    }

    private static Plot plot(DriftCorrectionServerJob job, String title) {
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
