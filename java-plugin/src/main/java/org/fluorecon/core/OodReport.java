package org.fluorecon.core;

import ij.ImagePlus;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The out-of-distribution verdicts ({@link OodCheck}) of one local model run, one per input unit
 * (plane, stack or frame, for every channel and frame), and how Fiji shows them: Info lines
 * ({@code fluorecon.qc.ood = …}), a " [OOD]" suffix on the output's title when any unit is out of
 * distribution, and Log lines that offer the way forward (Noise2Void trained on the image).
 */
public final class OodReport {
    /** Appended to the output's title when an input unit is out of the training distribution. */
    public static final String FLAG = " [OOD]";
    /** The macro call that trains Noise2Void on the current image (Plugins › fluorecon › Denoise › Train on this image…). */
    public static final String TRAIN_MACRO = "run(\"Train on this image...\", \"method=n2v steps=1000 ndim=2 name=[n2v this image]\")";
    public static final String WAY_FORWARD = "Way forward: train on images like this one, e.g. Noise2Void on this image "
            + "(Plugins › fluorecon › Denoise › Train on this image…, or in a macro: " + TRAIN_MACRO + "), then run Denoise… "
            + "with the model it installs.";
    /** At most this many units are listed one by one in the Info and the Log. */
    static final int MAX_LISTED = 8;
    /** The Log names the warnings of this many units (the Info lists {@link #MAX_LISTED}). */
    static final int MAX_LOGGED = 2;

    private final Map<String, OodCheck.Result> units = new LinkedHashMap<>();

    /** Forgets the verdicts of an earlier run. */
    public void clear() {
        units.clear();
    }

    public void add(String unit, OodCheck.Result result) {
        units.put(unit, result);
    }

    public Map<String, OodCheck.Result> units() {
        return units;
    }

    /** True when any unit was checked and found unlike the training data. */
    public boolean outOfDistribution() {
        return units.values().stream().anyMatch(r -> r.checked && !r.inDistribution());
    }

    private List<Map.Entry<String, OodCheck.Result>> flagged() {
        List<Map.Entry<String, OodCheck.Result>> out = new ArrayList<>();
        for (Map.Entry<String, OodCheck.Result> e : units.entrySet()) {
            if (e.getValue().checked && !e.getValue().inDistribution()) {
                out.add(e);
            }
        }
        return out;
    }

    /** The one-line verdict, e.g. "out of distribution: 1 of 3 inputs checked (…)"; null when nothing was checked. */
    public String summary() {
        if (units.isEmpty()) {
            return null;
        }
        OodCheck.Result worst = null;
        for (OodCheck.Result r : units.values()) {
            if (r.checked && (worst == null || r.distance > worst.distance
                    || (Double.isNaN(worst.distance) && !r.inDistribution()))) {
                worst = r;
            }
        }
        if (worst == null) {
            return "not checked: " + units.values().iterator().next().warnings.get(0);
        }
        int n = (int) units.values().stream().filter(r -> r.checked).count();
        int bad = flagged().size();
        String figures = Double.isNaN(worst.distance)
                ? describeScores(worst)
                : String.format(Locale.ROOT, "largest distance %.2f %s threshold %s", worst.distance,
                worst.distance > worst.threshold ? ">" : "<=", OodCheck.g(worst.threshold, 4));
        String out = worst.outFeatures().isEmpty() ? "" : "; features out: " + String.join(", ", worst.outFeatures());
        if (bad == 0) {
            return "in distribution: " + n + (n == 1 ? " input" : " inputs") + " checked (" + figures + ")";
        }
        return "out of distribution: " + bad + " of " + n + (n == 1 ? " input" : " inputs") + " checked (" + figures
                + out + ")";
    }

    private static String describeScores(OodCheck.Result r) {
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, Double> e : r.scores.entrySet()) {
            parts.add(String.format(Locale.ROOT, "%s %.3g", e.getKey(), e.getValue()));
        }
        return String.join(", ", parts);
    }

    /** {@code fluorecon.qc.ood…} lines for the output's Info (empty when nothing was checked). */
    public String infoLines() {
        String summary = summary();
        if (summary == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder("fluorecon.qc.ood = ").append(summary).append('\n');
        sb.append("fluorecon.qc.ood.method = Mahalanobis distance of 19 input features (intensity scale, noise, "
                + "quantiles, spectrum, autocorrelation, gradients) from the card's qc.* training statistics; "
                + "threshold calibrated on held-out training inputs (fluorecon.qc.ood)\n");
        List<Map.Entry<String, OodCheck.Result>> bad = flagged();
        for (int i = 0; i < bad.size() && i < MAX_LISTED; i++) {
            for (String w : bad.get(i).getValue().warnings) {
                sb.append("fluorecon.qc.ood.warning = ").append(bad.get(i).getKey()).append(": ").append(w).append('\n');
            }
        }
        if (bad.size() > MAX_LISTED) {
            sb.append("fluorecon.qc.ood.warning = … and ").append(bad.size() - MAX_LISTED).append(" more inputs out of "
                    + "distribution\n");
        }
        if (!bad.isEmpty()) {
            sb.append("fluorecon.qc.ood.way_forward = ").append(WAY_FORWARD).append('\n');
        }
        return sb.toString();
    }

    /** Log lines (none when every unit is in distribution): the verdict, each warning, the way forward. */
    public List<String> logLines() {
        List<String> lines = new ArrayList<>();
        String summary = summary();
        if (summary == null) {
            return lines;
        }
        if (summary.startsWith("not checked")) {
            lines.add("OOD check " + summary);
            return lines;
        }
        List<Map.Entry<String, OodCheck.Result>> bad = flagged();
        if (bad.isEmpty()) {
            return lines;
        }
        lines.add("WARNING: input " + summary + ". The result may contain invented or missing structure.");
        for (int i = 0; i < bad.size() && i < MAX_LOGGED; i++) {
            for (String w : bad.get(i).getValue().warnings) {
                lines.add("  " + bad.get(i).getKey() + ": " + w);
            }
        }
        if (bad.size() > MAX_LOGGED) {
            lines.add("  … and " + (bad.size() - MAX_LOGGED) + " more inputs out of distribution (see the output's Info).");
        }
        lines.add(WAY_FORWARD);
        return lines;
    }

    /** Adds the Info lines to {@code out} and, when out of distribution, the " [OOD]" flag to its title. */
    public void mark(ImagePlus out) {
        if (out == null || units.isEmpty()) {
            return;
        }
        Object info = out.getProperty("Info");
        String text = info == null ? "" : info.toString();
        if (!text.isEmpty() && !text.endsWith("\n")) {
            text += "\n";
        }
        out.setProperty("Info", text + infoLines());
        if (outOfDistribution() && !out.getTitle().endsWith(FLAG)) {
            out.setTitle(out.getTitle() + FLAG);
        }
    }

    /**
     * The unit's name in messages, e.g. "channel 2, frame 3" (only axes longer than one; z &lt; 0:
     * the whole z-stack); "image" for a single plane.
     *
     * @param dims channels, slices, frames
     */
    public static String label(int[] dims, int c, int z, int t) {
        List<String> parts = new ArrayList<>();
        if (dims[0] > 1) {
            parts.add("channel " + (c + 1));
        }
        if (dims[1] > 1 && z >= 0) {
            parts.add("plane " + (z + 1));
        }
        if (dims[2] > 1) {
            parts.add("frame " + (t + 1));
        }
        return parts.isEmpty() ? "image" : String.join(", ", parts);
    }
}
