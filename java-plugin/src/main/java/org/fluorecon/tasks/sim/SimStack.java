package org.fluorecon.tasks.sim;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ModelCard;

/**
 * Where each raw SIM frame sits in a flat ImageJ stack: frame order, validation of the stack size,
 * and the frames a learned model takes. Mirrors {@code fluorecon.tasks.sim_learned.frame_index},
 * {@code stack_layout} and {@code select_planes}.
 *
 * <p>An order lists the axes outermost → innermost: {@code angle-phase-z} (for each angle, for
 * each phase, all z planes) or {@code z-angle-phase} (for each z plane, each angle's phases; the
 * fairSIM/OMX layout); any permutation of angle, phase and z is accepted. For 2D the z part may be
 * left out.
 */
public final class SimStack {
    /** The orders offered in the dialog, the common ones first. */
    public static final String[] ORDERS = {"angle-phase-z", "z-angle-phase", "phase-angle-z", "z-phase-angle",
        "angle-z-phase", "phase-z-angle"};

    private SimStack() {
    }

    /** The axes of {@code order}, outermost first, always three ("angle", "phase", "z"). */
    public static String[] parseOrder(String order) {
        List<String> parts = new ArrayList<>();
        if (order != null) {
            for (String p : order.toLowerCase(Locale.ROOT).replace('_', '-').split("-")) {
                if (!p.trim().isEmpty()) {
                    parts.add(p.trim());
                }
            }
        }
        if (!parts.contains("z")) {
            parts.add("z");
        }
        String[] axes = parts.toArray(new String[0]);
        String[] sorted = axes.clone();
        Arrays.sort(sorted);
        if (!Arrays.equals(sorted, new String[] {"angle", "phase", "z"})) {
            throw new FluoreconException("order = '" + order + "' is not a frame order; use angle-phase-z (for each "
                    + "angle, each phase, all z) or z-angle-phase (for each z plane, each angle's phases).");
        }
        return axes;
    }

    /** 0-based stack index of frame (angle, phase, z). */
    public static int frameIndex(String order, int angle, int phase, int z, int nAngles, int nPhases, int nZ) {
        String[] axes = parseOrder(order);
        int index = 0;
        for (String axis : axes) {
            switch (axis) {
                case "angle":
                    index = index * nAngles + angle;
                    break;
                case "phase":
                    index = index * nPhases + phase;
                    break;
                default:
                    index = index * nZ + z;
            }
        }
        return index;
    }

    /**
     * Number of z planes of a full raw stack of {@code n} images; a {@link FluoreconException} that
     * names the sizes when {@code n} is not a whole number of angle × phase sets.
     */
    public static int planes(int n, int nAngles, int nPhases, String order) {
        checkCounts(nAngles, nPhases);
        parseOrder(order);
        int set = nAngles * nPhases;
        if (n < set || n % set != 0) {
            throw new FluoreconException("The stack has " + n + " images, but " + nAngles + " angles × " + nPhases
                    + " phases need a multiple of " + set + " (one set per z plane, order " + order + "); check "
                    + "angles and phases, or that the stack is complete.");
        }
        return n / set;
    }

    private static void checkCounts(int nAngles, int nPhases) {
        if (nAngles < 1 || nAngles > 12) {
            throw new FluoreconException("angles = " + nAngles + " is out of range; give the number of pattern "
                    + "orientations, e.g. 3.");
        }
        if (nPhases < 3 || nPhases > 15) {
            throw new FluoreconException("phases = " + nPhases + " is out of range; give the phases per angle, "
                    + "3 for 2D SIM or 5 for 3D SIM.");
        }
    }

    /**
     * Stack indices {@code [z][k]} of the model's {@code frames} (indices into the full angle-major
     * set, frame = angle·phases + phase) for each z plane. A stack holding whole angle × phase sets
     * is read through {@code order}; a stack holding only the model's frames per plane (reduced
     * acquisition) is read with the frames outside z ({@code angle-phase-z}-like orders) or inside
     * ({@code z-...} orders). Whole sets are preferred when both fit.
     */
    public static int[][] selectFrames(int n, int[] frames, int nAngles, int nPhases, String order) {
        checkCounts(nAngles, nPhases);
        String[] axes = parseOrder(order);
        int set = nAngles * nPhases;
        int nf = frames.length;
        for (int f : frames) {
            if (f < 0 || f >= set) {
                throw new FluoreconException("The model's frame " + f + " does not exist in " + nAngles + " angles × "
                        + nPhases + " phases; set angles and phases to the model's (" + nf + " frames).");
            }
        }
        boolean full = n >= set && n % set == 0;
        boolean reduced = !full && nf < set && n >= nf && n % nf == 0;
        if (!full && !reduced) {
            throw new FluoreconException("The stack has " + n + " images, which is neither a multiple of " + nAngles
                    + " angles × " + nPhases + " phases = " + set + " nor of the model's " + nf + " frames; check "
                    + "angles, phases and that every z plane is complete.");
        }
        int nZ = full ? n / set : n / nf;
        boolean framesOutside = !"z".equals(axes[0]);
        int[][] idx = new int[nZ][nf];
        for (int z = 0; z < nZ; z++) {
            for (int k = 0; k < nf; k++) {
                int f = frames[k];
                if (full) {
                    idx[z][k] = frameIndex(order, f / nPhases, f % nPhases, z, nAngles, nPhases, nZ);
                } else {
                    idx[z][k] = framesOutside ? k * nZ + z : z * nf + k;
                }
            }
        }
        return idx;
    }

    /** The model card's {@code train.frames} as indices; a {@link FluoreconException} when missing. */
    public static int[] cardFrames(ModelCard card, String modelName) {
        String text = card.train.get("frames");
        try {
            String[] parts = text.split(",");
            int[] frames = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                frames[i] = Integer.parseInt(parts[i].trim());
            }
            return frames;
        } catch (RuntimeException e) {
            throw new FluoreconException("Model '" + modelName + "' records no train.frames; it is not a learned SIM "
                    + "model made by fluorecon.");
        }
    }

    /** An integer {@code train.<key>} of the card, or {@code def}. */
    public static int cardInt(ModelCard card, String key, int def) {
        String v = card.train.get(key);
        try {
            return v == null ? def : Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            return def;
        }
    }
}
