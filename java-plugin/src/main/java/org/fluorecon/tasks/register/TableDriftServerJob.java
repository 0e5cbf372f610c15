package org.fluorecon.tasks.register;

import ij.ImagePlus;
import ij.measure.ResultsTable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.JobSession;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;
import org.fluorecon.tasks.localize.LocalizationTable;

/**
 * Drift correction of an SMLM localisation table on the model server (job task
 * {@code register-table}, {@code fluorecon.tasks.register_table.RegisterTableSpec}; redundant
 * cross-correlation): the table travels packed as a 2-channel float image
 * ({@link LocalizationTable#pack}) with its column names in the spec; the result is the corrected
 * table with the same columns and the drift per frame ({@code drift_nm} in the result's Info).
 */
public final class TableDriftServerJob extends ServerJob<TableDriftServerJob> {
    public static final String X = "x [nm]";
    public static final String Y = "y [nm]";
    public static final String FRAME = "frame";

    /** What the user chose; names as in {@code RegisterTableSpec}. */
    public static final class Settings {
        public int segments = 15;
        /** Pixel size (nm) of the renderings that are cross-correlated. */
        public double pixelNm = 20;
    }

    private final LocalizationTable input;
    private final String title;
    private final Settings settings;
    private LocalizationTable corrected;
    private double[][] drift = new double[0][];
    private String serverInfo = "";

    /**
     * @param title the table's name (file name or "Results"), for messages and provenance
     */
    public TableDriftServerJob(LocalizationTable input, String title, Settings settings, ServerClient client) {
        super(client, "Drift correction of the table");
        this.input = input;
        this.title = title;
        this.settings = settings;
    }

    @Override
    protected Map<String, Object> spec() {
        if (input == null || input.size() == 0) {
            throw new FluoreconException("Table '" + title + "' has no localisations.");
        }
        List<String> missing = new ArrayList<>();
        for (String c : new String[] {FRAME, X, Y}) {
            if (input.column(c) < 0) {
                missing.add("'" + c + "'");
            }
        }
        if (!missing.isEmpty()) {
            throw new FluoreconException("Table '" + title + "' has no " + String.join(", ", missing) + " column; its "
                    + "columns are " + input.columns() + ". Give a ThunderSTORM table (frame, x [nm], y [nm]).");
        }
        if (settings.segments < 2 || settings.segments > 1000) {
            throw new FluoreconException("segments = " + settings.segments + " is out of range; use 2 to 1000 time bins.");
        }
        if (!(settings.pixelNm > 0) || settings.pixelNm > 10000) {
            throw new FluoreconException("bin_nm = " + settings.pixelNm + " is out of range; give the rendering pixel "
                    + "size in nm, e.g. 20.");
        }
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("task", "register-table");
        spec.put("method", "rcc");
        spec.put("columns", new ArrayList<>(input.columns()));
        spec.put("segments", settings.segments);
        spec.put("pixel_nm", settings.pixelNm);
        return spec;
    }

    @Override
    protected ImagePlus upload() {
        return input.pack(title);
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        serverInfo = out.getInfoProperty() == null ? "" : out.getInfoProperty();
        corrected = LocalizationTable.unpack(out, input.columns());
        if (corrected.size() != input.size()) {
            throw new FluoreconException("The server returned " + corrected.size() + " localisations for "
                    + input.size() + ".");
        }
        drift = DriftCorrectionServerJob.parseDrift(JobSession.infoValue(serverInfo, "drift_nm"));
        if (drift.length == 0 || drift[0].length != 2) {
            throw new FluoreconException("The server's result carries no drift table; is the server older than this "
                    + "plugin?");
        }
        return out;
    }

    /** The drift-corrected table (same columns as the input), once processed. */
    public LocalizationTable getCorrected() {
        return corrected;
    }

    /** Drift per frame in nm, {@code [frame − 1] = {dx, dy}}, frames 1 .. the table's last. */
    public double[][] getDrift() {
        return drift.clone();
    }

    /** The drift per frame as a table, columns as {@code fluorecon register-table --drift-csv}. */
    public ResultsTable driftTable() {
        ResultsTable rt = new ResultsTable();
        for (int t = 0; t < drift.length; t++) {
            rt.incrementCounter();
            rt.addValue("frame", t + 1);
            rt.addValue("dx_nm", drift[t][0]);
            rt.addValue("dy_nm", drift[t][1]);
        }
        rt.setPrecision(3);
        return rt;
    }

    /** Provenance for the log and the corrected table's title bar. */
    public String info() {
        return provenance("Correct drift (table)", "register_table", "server.message = " + job.getMessage());
    }

    @Override
    protected String inputTitle() {
        return title;
    }

    /** The job's message (localisations, frames, max and rms drift), once processed. */
    public String getMessage() {
        return job.getMessage();
    }
}
