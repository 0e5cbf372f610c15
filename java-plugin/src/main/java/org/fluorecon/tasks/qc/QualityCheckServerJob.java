package org.fluorecon.tasks.qc;

import ij.ImagePlus;
import ij.ImageStack;
import ij.measure.Calibration;
import ij.measure.ResultsTable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageChecks;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * Checks a result against the input it was made from on the model server (job task {@code qc},
 * {@code fluorecon.qc.report.check_result}, as {@code fluorecon qc}). The server takes one image,
 * so the pair travels as two channels (input, result) of one plane or z-stack. The result is the
 * consistency map and its local score (C = 2) and, when {@code model_file} is a denoiser, the
 * re-noise disagreement map ({@code fluorecon.qc.disagreement}: bright = texture read from the noise)
 * and the invented-detail map (fine detail an independent noise draw does not reproduce, in noise-variance
 * units), C = 4; the channel names come from the server's {@code channels = ...} Info line; the figures and warnings come back as JSON in the job's message ({@code qc = {...}}).
 */
public final class QualityCheckServerJob extends ServerJob<QualityCheckServerJob> {
    private final ImagePlus resultImage;
    private final Path modelFile;
    private int[] scale = {1, 1, 1};
    private Map<String, Object> summary = new LinkedHashMap<>();
    private String[] channels = {"consistency", "consistency_local"};

    /**
     * @param input     the raw measurement (camera units)
     * @param result    the reconstruction in the input's units: the input's size, or an integer multiple of it
     *                  per axis for a super-resolved or isotropic result (then {@code modelFile} is required:
     *                  its card's forward model maps the result back onto the input's grid)
     * @param modelFile the model that made the result (its card drives the out-of-distribution
     *                  checks), or null; read by the server, which runs on this machine
     */
    public QualityCheckServerJob(ImagePlus input, ImagePlus result, Path modelFile, ServerClient client) {
        super(client, "The result check", input);
        this.resultImage = result;
        this.modelFile = modelFile;
    }

    @Override
    protected Map<String, Object> spec() {
        if (input == null || resultImage == null) {
            throw new FluoreconException("Choose two open images: input=<the raw image> result=<its reconstruction>.");
        }
        ImageChecks.checkType(input, "Input");
        ImageChecks.checkType(resultImage, "Result");
        int[] di = ImageConversion.dimensions(input);
        int[] dr = ImageConversion.dimensions(resultImage);
        for (ImagePlus imp : new ImagePlus[] {input, resultImage}) {
            int[] d = ImageConversion.dimensions(imp);
            if (d[0] != 1 || d[2] != 1) {
                throw new FluoreconException("Image '" + imp.getTitle() + "' has " + d[0] + " channel(s) and " + d[2]
                        + " frame(s); the check takes one plane or z-stack: split it first (Image › Hyperstacks › "
                        + "Reduce Dimensionality… or Duplicate…).");
            }
        }
        scale = new int[] {dr[1] / di[1], resultImage.getHeight() / input.getHeight(),
                resultImage.getWidth() / input.getWidth()};
        boolean multiple = scale[0] >= 1 && scale[1] >= 1 && scale[2] >= 1 && scale[0] * di[1] == dr[1]
                && scale[1] * input.getHeight() == resultImage.getHeight()
                && scale[2] * input.getWidth() == resultImage.getWidth();
        boolean resampled = multiple && (scale[0] != 1 || scale[1] != 1 || scale[2] != 1);
        if (!multiple || (resampled && modelFile == null)) {
            throw new FluoreconException("Result '" + resultImage.getTitle() + "' is " + resultImage.getWidth() + "x"
                    + resultImage.getHeight() + "x" + dr[1] + " but input '" + input.getTitle() + "' is "
                    + input.getWidth() + "x" + input.getHeight() + "x" + di[1] + "; give the input the result was "
                    + "made from" + (multiple ? ", and model_file = the super-resolution or isotropic model that "
                    + "made it (its forward model maps the result back onto the input's grid)." : "."));
        }
        if (input == resultImage) {
            throw new FluoreconException("input and result are the same image ('" + input.getTitle()
                    + "'); choose the raw image as input and the reconstruction as result.");
        }
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("task", "qc");
        if (modelFile != null) {
            if (!Files.isRegularFile(modelFile) || !modelFile.toString().endsWith(".onnx")) {
                throw new FluoreconException("model_file = " + modelFile + " is not an .onnx file; give the model "
                        + "that made the result, or leave model_file empty.");
            }
            spec.put("model_file", modelFile.toAbsolutePath().toString());
        }
        if (resampled) {
            List<Object> factors = new ArrayList<>();
            for (int a = dr[1] > 1 ? 0 : 1; a < 3; a++) {
                factors.add(scale[a]);
            }
            spec.put("scale", factors);
        }
        return spec;
    }

    @Override
    protected ImagePlus upload() {
        return pair(ImageConversion.dimensions(resultImage)[1]);
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        summary = parseSummary(job.getMessage());
        return shape(out, ImageConversion.dimensions(input)[1]);
    }

    /**
     * Input then result as channels 1 and 2, 32-bit, in ImageJ's CZT order, on the result's grid: a
     * result {@code scale}× finer travels beside its input repeated {@code scale}× per axis (nearest
     * neighbour; the server takes every scale-th pixel back). The images are not touched.
     */
    private ImagePlus pair(int nZ) {
        int w = resultImage.getWidth();
        int h = resultImage.getHeight();
        int iw = input.getWidth();
        ImageStack stack = new ImageStack(w, h);
        for (int z = 1; z <= nZ; z++) {
            float[] in = ImageConversion.toFloat(input, (z - 1) / scale[0] + 1);
            float[] rep = new float[w * h];
            for (int y = 0; y < h; y++) {
                int row = (y / scale[1]) * iw;
                for (int x = 0; x < w; x++) {
                    rep[y * w + x] = in[row + x / scale[2]];
                }
            }
            stack.addSlice("input", rep);
            stack.addSlice("result", ImageConversion.toFloat(resultImage, z).clone());
        }
        ImagePlus pair = new ImagePlus(input.getTitle() + "+result", stack);
        pair.setDimensions(2, nZ, 1);
        pair.setOpenAsHyperStack(true);
        Calibration cal = input.getCalibration().copy();
        cal.disableDensityCalibration();
        pair.setCalibration(cal);
        return pair;
    }

    /**
     * The channel names the server lists in its result's Info ({@code channels = a,b,...}); without that line,
     * the first {@code count} of the server's channel order.
     */
    static String[] serverChannels(String serverInfo, int count) {
        if (serverInfo != null) {
            for (String line : serverInfo.split("\n")) {
                String t = line.trim();
                if (t.startsWith("channels = ")) {
                    return t.substring("channels = ".length()).trim().split(",");
                }
            }
        }
        String[] order = {"consistency", "consistency_local", "disagreement", "invented"};
        return java.util.Arrays.copyOf(order, Math.max(2, Math.min(count, order.length)));
    }

    private ImagePlus shape(ImagePlus out, int nZ) {
        String serverInfo = out.getInfoProperty();
        channels = serverChannels(serverInfo, nZ > 0 ? out.getStackSize() / nZ : 2);
        int nC = channels.length;
        if (out.getStackSize() != nC * nZ || out.getWidth() != input.getWidth() || out.getHeight() != input.getHeight()) {
            throw new FluoreconException("The server's result is " + out.getWidth() + "x" + out.getHeight() + "x"
                    + out.getStackSize() + ", not " + nC + " maps of the input's size; is the server older than this plugin?");
        }
        out.setDimensions(nC, nZ, 1);
        out.setOpenAsHyperStack(true);
        Calibration cal = input.getCalibration().copy();
        cal.disableDensityCalibration();
        out.setCalibration(cal);
        out.setTitle(input.getShortTitle() + "-consistency");
        for (int z = 0; z < nZ; z++) {
            for (int c = 0; c < nC; c++) {
                out.getStack().setSliceLabel(channels[c], nC * z + c + 1);
            }
        }
        out.setProperty("Info", info() + (serverInfo == null ? "" : "server.info = " + serverInfo.trim()
                .replace("\n", "\nserver.info = ") + "\n"));
        out.getProcessor().resetMinAndMax();
        return out;
    }

    /** The JSON after {@code qc = } in the job's message. */
    static Map<String, Object> parseSummary(String message) {
        int at = message == null ? -1 : message.indexOf("qc = ");
        if (at < 0) {
            throw new FluoreconException("The server's answer carries no qc figures; is the server older than this plugin?");
        }
        try {
            return Json.parseObject(message.substring(at + "qc = ".length()).trim());
        } catch (IllegalArgumentException e) {
            throw new FluoreconException("The server's qc figures are not readable (" + e.getMessage() + ").", e);
        }
    }

    /** Warnings in words (removed or invented structure, noise mismatch, out of distribution). */
    public List<String> warnings() {
        List<String> out = new ArrayList<>();
        Object w = summary.get("warnings");
        if (w instanceof List) {
            for (Object o : (List<?>) w) {
                out.add(String.valueOf(o));
            }
        }
        return out;
    }

    /**
     * One row: residual_mean, residual_std, lag1_autocorrelation per axis ({@code lag1_z}, {@code lag1_y},
     * {@code lag1_x}), local_max_abs, local_flagged_fraction, noise a and b, warnings (joined by " | ").
     */
    public ResultsTable table() {
        ResultsTable rt = new ResultsTable();
        rt.incrementCounter();
        rt.addValue("input", input.getTitle());
        rt.addValue("result", resultImage.getTitle());
        rt.addValue("residual_mean", number("residual_mean"));
        rt.addValue("residual_std", number("residual_std"));
        Object lag = summary.get("lag1_autocorrelation");
        if (lag instanceof List) {
            List<?> values = (List<?>) lag;
            String[] axes = values.size() == 3 ? new String[] {"z", "y", "x"} : new String[] {"y", "x"};
            for (int k = 0; k < values.size() && k < axes.length; k++) {
                rt.addValue("lag1_autocorrelation_" + axes[k], ((Number) values.get(k)).doubleValue());
            }
        }
        rt.addValue("local_max_abs", number("local_max_abs"));
        rt.addValue("local_flagged_fraction", number("local_flagged_fraction"));
        Object noise = summary.get("noise_model");
        if (noise instanceof Map) {
            Map<?, ?> nm = (Map<?, ?>) noise;
            rt.addValue("noise_a", nm.get("a") instanceof Number ? ((Number) nm.get("a")).doubleValue() : Double.NaN);
            rt.addValue("noise_b", nm.get("b") instanceof Number ? ((Number) nm.get("b")).doubleValue() : Double.NaN);
        }
        Object d = summary.get("disagreement");
        if (d instanceof Map && ((Map<?, ?>) d).get("flagged_fraction") instanceof Number) {
            rt.addValue("disagreement_flagged_fraction",
                    ((Number) ((Map<?, ?>) d).get("flagged_fraction")).doubleValue());
        }
        Object inv = summary.get("invented");
        if (inv instanceof Map && ((Map<?, ?>) inv).get("regions") instanceof Number) {
            rt.addValue("invented_regions", ((Number) ((Map<?, ?>) inv).get("regions")).doubleValue());
            Object marked = ((Map<?, ?>) inv).get("marked_fraction");
            rt.addValue("invented_marked_fraction", marked instanceof Number ? ((Number) marked).doubleValue() : Double.NaN);
        }
        List<String> w = warnings();
        rt.addValue("warnings", w.isEmpty() ? "none" : String.join(" | ", w));
        rt.setPrecision(4);
        return rt;
    }

    private double number(String key) {
        Object v = summary.get(key);
        return v instanceof Number ? ((Number) v).doubleValue() : Double.NaN;
    }

    public String info() {
        return provenance("Check result (QC)", "qc", "qc.channels = " + String.join(",", channels),
                "qc.summary = " + Json.write(summary)) + "result.title = " + resultImage.getTitle() + "\n";
    }

    /** The server's figures: residual_mean, residual_std, lag1_autocorrelation, warnings, … */
    public Map<String, Object> getSummary() {
        return new LinkedHashMap<>(summary);
    }
}
