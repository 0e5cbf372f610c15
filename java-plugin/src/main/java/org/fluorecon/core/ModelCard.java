package org.fluorecon.core;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The model card stored in ONNX {@code metadata_props}: the contract in docs/DESIGN.md
 * ("Model card"), read identically by {@code fluorecon.core.modelcard} in Python
 * (same required keys, same error messages).
 */
public final class ModelCard {

    public static final String FORMAT_VERSION = "1";
    /** {@code norm} of SMLM models: network input = photons / S. */
    public static final String PHOTONS_PREFIX = "photons:";
    /** {@code norm} of imported models with fixed statistics (bioimage.io fixed_zero_mean_unit_variance). */
    public static final String FIXED_PREFIX = "fixed:";
    static final String[] REQUIRED_KEYS = {
        "fluorecon.format", "task", "method", "name", "axes.in", "axes.out", "channels.in", "channels.out",
        "tile.multiple", "tile.halo", "tile.default", "scale", "norm", "outputs",
    };

    public final String task;
    public final String method;
    public final String name;
    public final String axesIn;
    public final String axesOut;
    public final int channelsIn;
    public final int channelsOut;
    public final int[] tileMultiple;
    public final int[] tileHalo;
    public final int[] tileDefault;
    public final int[] scale;
    public final String norm;
    public final String outputs;
    public final String fluoreconVersion;
    public final String created;
    public final String license;
    public final String cite;
    public final String description;
    public final Map<String, String> train;
    public final Map<String, String> metrics;
    public final Map<String, String> qc;
    private final double[] normRange;
    /** {lo, hi} = {MEAN, MEAN + STD} of {@code norm = fixed:MEAN:STD}, else null. */
    private final double[] fixedRange;
    private final double photonScale;
    private final Map<String, String> metadata;

    private ModelCard(Map<String, String> m) {
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(m));
        task = m.get("task");
        method = m.get("method");
        name = m.get("name");
        axesIn = axes("axes_in", m.get("axes.in"));
        axesOut = axes("axes_out", m.get("axes.out"));
        channelsIn = positiveInt("channels_in", m.get("channels.in"));
        channelsOut = positiveInt("channels_out", m.get("channels.out"));
        tileMultiple = intList("tile.multiple", m.get("tile.multiple"));
        tileHalo = intList("tile.halo", m.get("tile.halo"));
        tileDefault = intList("tile.default", m.get("tile.default"));
        scale = intList("scale", m.get("scale"));
        norm = m.get("norm");
        outputs = m.get("outputs");
        fluoreconVersion = m.getOrDefault("fluorecon.version", "");
        created = m.getOrDefault("created", "");
        license = m.getOrDefault("license", "BSD-3-Clause");
        cite = m.getOrDefault("cite", "");
        description = m.getOrDefault("description", "");
        train = prefixed(m, "train.");
        metrics = prefixed(m, "metrics.");
        qc = prefixed(m, "qc.");
        if (norm != null && norm.startsWith(FIXED_PREFIX)) {
            normRange = null;
            photonScale = Double.NaN;
            fixedRange = fixedRange(norm, m.getOrDefault("denorm", "input"));
        } else if (norm != null && norm.startsWith(PHOTONS_PREFIX)) {
            normRange = null;
            fixedRange = null;
            photonScale = photonScale(norm);
        } else {
            fixedRange = null;
            photonScale = Double.NaN;
            try {
                normRange = Normalizer.parseNorm(norm);
            } catch (IllegalArgumentException e) {
                throw new ModelCardException("Model card is invalid: ('norm',): " + e.getMessage());
            }
            // The plugin maps every per-image-normalised output back to the input's range; any other output
            // mapping would be silently mis-scaled here, so such a card is refused with where it does run.
            String denorm = m.getOrDefault("denorm", "input");
            if (!denorm.equals("input")) {
                throw new ModelCardException("Model card: denorm = '" + denorm + "' with norm = '" + norm + "' is "
                        + "not supported by the Fiji plugin (it maps outputs back to the input's range only); run "
                        + "this model with fluorecon predict.");
            }
        }
        for (String o : outputs.split(",")) {
            if (!o.equals("mean") && !o.equals("scale")) {
                throw new ModelCardException("Model card is invalid: ('outputs',): outputs must be 'mean' or "
                        + "'mean,scale', got '" + outputs + "'");
            }
        }
        if (axesIn.length() != axesOut.length()) {
            throw new ModelCardException("Model card is invalid: axes.in '" + axesIn + "' and axes.out '" + axesOut
                    + "' have different spatial axes.");
        }
        checkLength("tile_multiple", tileMultiple);
        checkLength("tile_halo", tileHalo);
        checkLength("tile_default", tileDefault);
        checkLength("scale", scale);
        int nOutputs = outputs.split(",").length;
        if (channelsOut % nOutputs != 0) {
            throw new ModelCardException("Model card is invalid: channels.out = " + channelsOut + " cannot hold the "
                    + nOutputs + " outputs '" + outputs + "'.");
        }
    }

    /**
     * Parses a card from ONNX metadata.
     *
     * @throws ModelCardException naming the key when the card is missing, of an unknown format or invalid
     */
    public static ModelCard fromMetadata(Map<String, String> meta) {
        String fmt = meta.get("fluorecon.format");
        if (fmt == null) {
            throw new ModelCardException("Model has no fluorecon card (metadata key 'fluorecon.format' is missing); "
                    + "export it with `fluorecon export` or pick a fluorecon model.");
        }
        if (!fmt.equals(FORMAT_VERSION)) {
            throw new ModelCardException("Model card format '" + fmt + "' is not supported (this fluorecon reads format "
                    + FORMAT_VERSION + "); update fluorecon.");
        }
        for (String key : REQUIRED_KEYS) {
            if (!meta.containsKey(key)) {
                throw new ModelCardException("Model card is missing the key '" + key + "'; re-export the model.");
            }
        }
        return new ModelCard(meta);
    }

    /** Number of spatial axes (2 or 3). */
    public int ndim() {
        return axesIn.length() - 2;
    }

    /** Low and high normalization percentiles from {@link #norm}. */
    public double normLow() {
        return percentiles()[0];
    }

    public double normHigh() {
        return percentiles()[1];
    }

    /**
     * The {lo, hi} that map to {0, 1} for one block: the fixed statistics of {@code fixed:MEAN:STD}, else the
     * block's percentiles (never per tile).
     */
    public double[] normRange(float[][] block) {
        return fixedRange != null ? fixedRange.clone() : Normalizer.percentileRange(block, normLow(), normHigh());
    }

    private double[] percentiles() {
        if (fixedRange != null) {
            throw new ModelCardException("Model '" + name + "' normalizes with fixed statistics '" + norm
                    + "', not percentiles: run it with Image-to-image... or Denoise...");
        }
        if (normRange == null) {
            throw new ModelCardException("Model '" + name + "' normalizes with '" + norm + "' (a fixed photon scale), "
                    + "not percentiles; it is a " + task + " model: use it with the matching command.");
        }
        return normRange;
    }

    /** True for {@code norm = photons:S} (SMLM models read photons / S). */
    public boolean isPhotonNorm() {
        return !Double.isNaN(photonScale);
    }

    /**
     * {MEAN, MEAN + STD} of {@code fixed:MEAN:STD}. The output goes back to input units (x (hi - lo) + lo), so
     * {@code denorm} must be 'input' or the same map written as 'linear:STD:MEAN' (what an imported CAREamics
     * package has); other output maps run in Python only ({@code fluorecon.core.normalize.map_output}).
     */
    private static double[] fixedRange(String norm, String denorm) {
        String[] p = norm.split(":");
        double mean;
        double std;
        try {
            mean = Double.parseDouble(p[1]);
            std = Double.parseDouble(p[2]);
        } catch (RuntimeException e) {
            throw new ModelCardException("Model card is invalid: ('norm',): norm = '" + norm
                    + "' is not understood; expected 'fixed:MEAN:STD'");
        }
        if (p.length != 3 || !(std > 0) || Double.isInfinite(std) || Double.isNaN(mean)) {
            throw new ModelCardException("Model card is invalid: ('norm',): norm = '" + norm + "' needs a positive STD");
        }
        double[] range = {mean, mean + std};
        if (!denorm.equals("input") && !denorm.equals("linear:" + p[2] + ":" + p[1])) {
            String[] d = denorm.split(":");
            boolean same = false;
            if (d.length == 3 && d[0].equals("linear")) {
                try {
                    double gain = Double.parseDouble(d[1]);
                    double offset = Double.parseDouble(d[2]);
                    same = Math.abs(gain - std) <= 1e-9 * std && Math.abs(offset - mean) <= 1e-9 * Math.max(1, Math.abs(mean));
                } catch (NumberFormatException e) {
                    same = false;
                }
            }
            if (!same) {
                throw new ModelCardException("Model card: denorm = '" + denorm + "' with norm = '" + norm + "' maps the "
                        + "output to other units than the input's, which Fiji does not do yet; run it with "
                        + "fluorecon predict.");
            }
        }
        return range;
    }

    /** S of {@code norm = photons:S}; NaN for percentile normalization. */
    public double photonScale() {
        return photonScale;
    }

    private static double photonScale(String norm) {
        String v = norm.substring(PHOTONS_PREFIX.length()).trim();
        double s;
        try {
            s = Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new ModelCardException("Model card is invalid: ('norm',): norm = '" + norm
                    + "' needs a number after 'photons:', e.g. 'photons:100'");
        }
        if (!(s > 0) || Double.isInfinite(s)) {
            throw new ModelCardException("Model card is invalid: ('norm',): norm = '" + norm
                    + "' needs a positive photon scale");
        }
        return s;
    }

    /** Output kinds in channel-group order, e.g. {"mean", "scale"}. */
    public String[] outputKinds() {
        return outputs.split(",");
    }

    public boolean hasScaleOutput() {
        return Arrays.asList(outputKinds()).contains("scale");
    }

    /** The raw metadata the card was read from. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Comma list of ints, e.g. "32,32". */
    public static String join(int[] v) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < v.length; i++) {
            sb.append(i == 0 ? "" : ",").append(v[i]);
        }
        return sb.toString();
    }

    private void checkLength(String attr, int[] v) {
        if (v.length != ndim()) {
            throw new ModelCardException("Model card '" + attr + "' has " + v.length + " entries for a " + ndim()
                    + "D model; give one per spatial axis.");
        }
    }

    private static String axes(String field, String v) {
        if (!"bcyx".equals(v) && !"bczyx".equals(v)) {
            throw new ModelCardException("Model card is invalid: ('" + field + "',): axes must be 'bcyx' or 'bczyx', got '"
                    + v + "'");
        }
        return v;
    }

    private static int positiveInt(String field, String v) {
        int n;
        try {
            n = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new ModelCardException("Model card is invalid: ('" + field + "',): must be an integer, got '" + v + "'");
        }
        if (n < 1) {
            throw new ModelCardException("Model card is invalid: ('" + field + "',): must be at least 1, got " + n);
        }
        return n;
    }

    private static int[] intList(String key, String v) {
        String[] parts = v.split(",", -1);
        int[] out = new int[parts.length];
        try {
            for (int i = 0; i < parts.length; i++) {
                out[i] = Integer.parseInt(parts[i].trim());
            }
        } catch (NumberFormatException e) {
            throw new ModelCardException("Model card key '" + key + "' must be a comma list of integers, got '" + v + "'.");
        }
        for (int x : out) {
            if (x < (key.equals("tile.halo") ? 0 : 1)) {
                throw new ModelCardException("Model card key '" + key + "' has a value out of range: '" + v + "'.");
            }
        }
        return out;
    }

    private static Map<String, String> prefixed(Map<String, String> m, String prefix) {
        Map<String, String> out = new TreeMap<>();
        for (Map.Entry<String, String> e : m.entrySet()) {
            if (e.getKey().startsWith(prefix) && e.getKey().length() > prefix.length()) {
                out.put(e.getKey().substring(prefix.length()), e.getValue());
            }
        }
        return Collections.unmodifiableMap(out);
    }

    @Override
    public String toString() {
        return "ModelCard{" + name + ", task=" + task + ", method=" + method + ", axes=" + axesIn
                + ", tile=" + join(tileDefault) + ", halo=" + join(tileHalo) + "}";
    }
}
