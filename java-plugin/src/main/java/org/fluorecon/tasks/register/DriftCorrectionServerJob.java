package org.fluorecon.tasks.register;

import ij.ImagePlus;
import ij.measure.Calibration;
import ij.measure.ResultsTable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.server.JobSession;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;
import org.fluorecon.tasks.unmix.UnmixServerJob;

/**
 * Translation drift correction of a time series on the model server (job task {@code register},
 * {@code fluorecon.tasks.register.RegisterSpec}): {@link #checkInput()}, {@link #process(Progress)},
 * {@link #getErrorMessage()}. The drift is measured on one channel and every channel is corrected;
 * the drift per frame comes back in the result's Info ({@code drift_px = [[…], …]}). A plain stack
 * (no frames) is taken as a time series of its slices, as {@code fluorecon register} does.
 */
public final class DriftCorrectionServerJob extends ServerJob<DriftCorrectionServerJob> {
    public static final List<String> REFERENCES = List.of("first", "previous", "mean");

    /** What the user chose; names as in {@code RegisterSpec}. */
    public static final class Settings {
        public String reference = "first";
        /** 1-based channel the drift is measured on. */
        public int channel = 1;
        public int upsample = 20;
    }

    private final Settings settings;
    private boolean slicesAsFrames;
    private double[][] drift = new double[0][];
    private List<String> driftAxes = new ArrayList<>();

    public DriftCorrectionServerJob(ImagePlus input, Settings settings, ServerClient client) {
        super(client, "Drift correction", input, "Image", "a time series");
        this.settings = settings;
    }

    @Override
    protected Map<String, Object> spec() {
        int[] d = ImageConversion.dimensions(input);
        slicesAsFrames = d[2] == 1 && d[1] > 1;
        if (d[2] == 1 && d[1] == 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has a single frame; drift correction needs a "
                    + "time series (several frames, or a stack whose slices are time points).");
        }
        if (!REFERENCES.contains(settings.reference)) {
            throw new FluoreconException("reference = '" + settings.reference + "' is not known; use one of "
                    + REFERENCES + ".");
        }
        if (settings.channel < 1 || settings.channel > d[0]) {
            throw new FluoreconException("channel = " + settings.channel + " but the image has " + d[0]
                    + " channel(s); give 1 to " + d[0] + ".");
        }
        if (settings.upsample < 1 || settings.upsample > 1000) {
            throw new FluoreconException("upsample = " + settings.upsample + " is out of range; use 1 to 1000 "
                    + "(precision 1/upsample px).");
        }
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("task", "register");
        spec.put("reference", settings.reference);
        spec.put("channel", settings.channel);
        spec.put("upsample", settings.upsample);
        return spec;
    }

    @Override
    protected ImagePlus upload() {
        if (!slicesAsFrames) {
            return input;
        }
        // Same pixels, slices relabelled as frames: the user's image is not touched.
        int[] d = ImageConversion.dimensions(input);
        ImagePlus upload = new ImagePlus(input.getTitle(), input.getStack());
        upload.setCalibration(input.getCalibration().copy());
        upload.setDimensions(d[0], 1, d[1]);
        upload.setOpenAsHyperStack(true);
        return upload;
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        return shape(out, ImageConversion.dimensions(input));
    }

    private ImagePlus shape(ImagePlus out, int[] d) {
        if (out.getStackSize() != input.getStackSize() || out.getWidth() != input.getWidth()
                || out.getHeight() != input.getHeight()) {
            throw new FluoreconException("The server's result is " + out.getWidth() + "x" + out.getHeight() + "x"
                    + out.getStackSize() + ", not the input's " + input.getWidth() + "x" + input.getHeight() + "x"
                    + input.getStackSize() + ".");
        }
        String serverInfo = out.getInfoProperty();
        drift = parseDrift(JobSession.infoValue(serverInfo, "drift_px"));
        String axes = JobSession.infoValue(serverInfo, "drift_axes");
        driftAxes = axes == null ? List.of() : UnmixServerJob.spectraList(axes);
        int frames = slicesAsFrames ? d[1] : d[2];
        if (drift.length != frames || driftAxes.isEmpty() || drift[0].length != driftAxes.size()) {
            throw new FluoreconException("The server's result carries no drift table for " + frames + " frames; "
                    + "is the server older than this plugin?");
        }
        out.setDimensions(d[0], d[1], d[2]);
        if (d[0] > 1 || d[2] > 1) {
            out.setOpenAsHyperStack(true);
        }
        Calibration cal = input.getCalibration().copy();
        cal.disableDensityCalibration();
        out.setCalibration(cal);
        out.setTitle(input.getShortTitle() + "-aligned");
        out.setProperty("Info", info() + (serverInfo == null ? "" : "server.info = " + serverInfo.trim()
                .replace("\n", "\nserver.info = ") + "\n"));
        out.getProcessor().resetMinAndMax();
        return out;
    }

    /** {@code [[a, b], [c, d]]} → a table of numbers. */
    static double[][] parseDrift(String json) {
        if (json == null) {
            return new double[0][];
        }
        try {
            List<?> rows = (List<?>) Json.parse(json);
            double[][] out = new double[rows.size()][];
            for (int t = 0; t < out.length; t++) {
                List<?> row = (List<?>) rows.get(t);
                out[t] = new double[row.size()];
                for (int k = 0; k < row.size(); k++) {
                    out[t][k] = ((Number) row.get(k)).doubleValue();
                }
            }
            return out;
        } catch (IllegalArgumentException | ClassCastException e) {
            throw new FluoreconException("The server's drift table is not readable (" + e.getMessage() + ").", e);
        }
    }

    /**
     * The drift per frame as a table, columns as {@code fluorecon register --drift-csv}: frame,
     * {@code d<axis>_px} and, where the image is calibrated, {@code d<axis>_<unit>}.
     */
    public ResultsTable driftTable() {
        ResultsTable rt = new ResultsTable();
        Calibration cal = input.getCalibration();
        for (int t = 0; t < drift.length; t++) {
            rt.incrementCounter();
            rt.addValue("frame", t + 1);
            for (int k = 0; k < driftAxes.size(); k++) {
                rt.addValue("d" + driftAxes.get(k) + "_px", drift[t][k]);
            }
            if (cal.scaled()) {
                for (int k = 0; k < driftAxes.size(); k++) {
                    double scale = "z".equals(driftAxes.get(k)) ? (slicesAsFrames ? Double.NaN : cal.pixelDepth)
                            : "y".equals(driftAxes.get(k)) ? cal.pixelHeight : cal.pixelWidth;
                    if (!Double.isNaN(scale)) {
                        rt.addValue("d" + driftAxes.get(k) + "_" + cal.getUnit(), drift[t][k] * scale);
                    }
                }
            }
        }
        rt.setPrecision(4);
        return rt;
    }

    public String info() {
        return provenance("Correct drift", "register", "register.slices_as_frames = " + slicesAsFrames);
    }

    /** Drift per frame in pixels, one row per frame, columns in {@link #getDriftAxes()} order (z, y, x). */
    public double[][] getDrift() {
        return drift.clone();
    }

    public List<String> getDriftAxes() {
        return new ArrayList<>(driftAxes);
    }
}
