package org.fluorecon.tasks.localize;

import ij.ImagePlus;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.JobSession;
import org.fluorecon.server.JobSpec;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * The classical SMLM fit (Poisson MLE of a Gaussian, {@code fluorecon localize --method mle}) on the model
 * server's {@code localize} job ({@code fluorecon.tasks.localize.job}). The server returns the table packed as
 * register-table's ({@link LocalizationTable#unpack}, columns {@link #COLUMNS}, 1-based frames); it becomes the same
 * {@link Localizations} and Gaussian rendering ({@link SmlmRender#image}) as the networks' in {@link LocalizeJob},
 * so Localize (SMLM)… shows, saves and renders MLE results as it does theirs.
 */
public final class LocalizeServerJob extends ServerJob<LocalizeServerJob> {
    public static final JobSpec SPEC = JobSpec.of("localize");
    /** The choice in Localize (SMLM)…'s model list that runs this job. */
    public static final String METHOD = "mle";
    /** The packed result's columns ({@code RESULT_COLUMNS} of the Python job). */
    static final List<String> COLUMNS = List.of("frame", "x [nm]", "y [nm]", "z [nm]", "intensity [photon]",
            "offset [photon]", "bkgstd [photon]", "sigma [nm]", "uncertainty [nm]");

    private final LocalizeJob.Settings settings;
    private double pixelNm;
    private String pixelSource;
    private int frames;
    private Localizations table;

    public LocalizeServerJob(ImagePlus input, LocalizeJob.Settings settings, ServerClient client) {
        super(client, "Localisation (MLE fit)", input, "Stack", "an SMLM time stack");
        this.settings = settings;
    }

    @Override
    protected Map<String, Object> spec() {
        frames = LocalizeJob.frames(input);
        LocalizeJob.checkSettings(settings);
        String[] source = new String[1];
        pixelNm = LocalizeJob.cameraPixelNm(input, settings, source);
        pixelSource = source[0];
        if (Double.isNaN(pixelNm)) { // the fit's σ and the positions are in nm: no guessed pixel size (as the CLI)
            throw new FluoreconException("Image '" + input.getTitle() + "' has no pixel size, and the MLE fit's "
                    + "positions and PSF width are in nm. Set it in Image › Properties… or give camera_pixel_nm=.");
        }
        if (!(settings.sigmaNm > 0)) {
            throw new FluoreconException("psf_sigma_nm = " + settings.sigmaNm + " must be positive, e.g. 130.");
        }
        if (!(settings.readNoiseE >= 0)) {
            throw new FluoreconException("read_noise = " + settings.readNoiseE + " must be 0 or more electrons.");
        }
        Map<String, Object> spec = Json.object("task", "localize", "method", METHOD, "pixel_size_nm", pixelNm,
                "camera_offset", settings.cameraOffset, "camera_gain", settings.gain, "qe", settings.qe,
                "read_noise_e", settings.readNoiseE, "sigma_nm", settings.sigmaNm);
        if (settings.emGain > 1) { // 1 = no EM register: the Python side's None
            spec.put("em_gain", settings.emGain);
        }
        if (settings.threshold > 0) {
            spec.put("threshold", settings.threshold);
        }
        return spec;
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        String info = out.getInfoProperty();
        String n = JobSession.infoValue(info, "localizations");
        if (n == null) {
            throw new FluoreconException("The server's result carries no 'localizations' count; is the server older "
                    + "than this plugin?");
        }
        LocalizationTable packed = LocalizationTable.unpack(out, COLUMNS);
        int rows = Integer.parseInt(n.trim());
        if (rows > packed.size()) {
            throw new FluoreconException("The server returned " + packed.size() + " rows for " + rows
                    + " localisations.");
        }
        table = new Localizations();
        double[] row = new double[Localizations.COLUMNS.length];
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < row.length; c++) {
                row[c] = packed.get(i, c + 1);
            }
            table.add((int) Math.round(packed.get(i, 0)) - 1, row);
        }
        ImagePlus rendering = SmlmRender.image(table, input, pixelNm, settings.renderPixelNm);
        rendering.setProperty("Info", info);
        return withInfo(rendering, provenance("Localize (SMLM)", "localize",
                "model.method = " + METHOD,
                "settings.pixel_nm = " + pixelNm + " (" + pixelSource + ")",
                "settings.render_pixel_nm = " + settings.renderPixelNm,
                "localizations = " + table.size(),
                "input.frames = " + frames));
    }

    /** The localisations after a successful {@link #process}; null otherwise. */
    public Localizations getTable() {
        return table;
    }

    /** Frames of the stack (after {@link #checkInput()}). */
    public int frames() {
        return frames;
    }
}
