package org.fluorecon.tasks.sim;

import ij.ImagePlus;
import java.nio.file.Path;
import java.util.Locale;
import org.fluorecon.core.Block;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.core.LocalModelJob;
import org.fluorecon.core.Model;
import org.fluorecon.core.ModelCard;
import org.fluorecon.core.Normalizer;
import org.fluorecon.core.OodReport;
import org.fluorecon.core.Progress;
import org.fluorecon.core.TiledInference;
import org.fluorecon.core.Tiling;

/**
 * Learned SIM reconstruction of a raw stack with a fluorecon model (card {@code task = sim},
 * {@code channels.in} = raw frames, {@code scale} 2), TrackMate style. For each z plane the
 * model's frames (card {@code train.frames}) become the input channels, all normalized with one
 * percentile pair over those frames; {@link TiledInference} runs the tiles. The result has one
 * slice per z plane, twice the width and height, and half the input's pixel size. Mirrors
 * {@code fluorecon.tasks.sim_learned.predict_sim}.
 */
public final class SimLearnedJob extends LocalModelJob<ImagePlus> {
    public static final String TASK = "sim";

    private final String order;
    private final int givenAngles;
    private final int givenPhases;
    private final int tile;

    private Tiling.Plan plan;
    private int[][] indices;
    private int nAngles;
    private int nPhases;

    /**
     * @param input     raw SIM stack (N slices: whole angle × phase sets, or the model's frames)
     * @param modelFile the .onnx model
     * @param order     frame order, e.g. "angle-phase-z" (see {@link SimStack})
     * @param angles    pattern angles of the stack; must be the model's
     * @param phases    phases per angle of the stack; must be the model's
     * @param tile      tile side in raw pixels; 0 = the card's default
     * @param threads   ONNX Runtime threads; 0 = automatic
     * @param useGpu    try the CUDA provider
     * @param opener    loads the model, e.g. {@code Predictor::open}
     */
    public SimLearnedJob(ImagePlus input, Path modelFile, String order, int angles, int phases, int tile, int threads,
                         boolean useGpu, Model.Opener opener) {
        super(input, modelFile, threads, useGpu, opener, "run learned SIM", "SIM reconstruction",
                "Out of memory during SIM reconstruction of '%s'; use a smaller tile or give ImageJ more memory (Edit › Options › Memory & Threads).");
        this.order = order;
        this.givenAngles = angles;
        this.givenPhases = phases;
        this.tile = tile;
    }

    @Override
    protected void check() {
        checkImage("open a raw SIM stack first.");
        checkCounts(tile);
        if (modelFile == null) {
            throw new FluoreconException("No model chosen; pick an installed SIM model or give "
                    + "model_file=/path/to/sim_2d_9frames.onnx.");
        }
        SimStack.parseOrder(order);
        ModelCard card = openModel(null);
        String name = modelName();
        if (!TASK.equals(card.task)) {
            throw wrongTask(card, "SIM reconstruction needs a model with task=sim.");
        }
        int[] frames = SimStack.cardFrames(card, name);
        if (frames.length != card.channelsIn || card.ndim() != 2 || card.channelsOut != 1) {
            throw new FluoreconException("Model '" + name + "' takes " + card.channelsIn + " channels but lists "
                    + frames.length + " frames; it is not a 2D learned SIM model.");
        }
        nAngles = SimStack.cardInt(card, "n_angles", 3);
        nPhases = SimStack.cardInt(card, "n_phases", 3);
        if (givenAngles != nAngles || givenPhases != nPhases) {
            throw new FluoreconException("Model '" + name + "' was made for " + nAngles + " angles × " + nPhases
                    + " phases, but angles = " + givenAngles + ", phases = " + givenPhases + " were given; use a model "
                    + "made for this acquisition, or the classical method.");
        }
        indices = SimStack.selectFrames(input.getStackSize(), frames, nAngles, nPhases, order);
        int[] shape = {input.getHeight(), input.getWidth()};
        for (int a = 0; a < 2; a++) {
            if (shape[a] < card.tileMultiple[a]) {
                throw new FluoreconException("Image '" + input.getTitle() + "' is " + shape[a] + " pixels in "
                        + (a == 0 ? "height" : "width") + ", smaller than the model's tile multiple "
                        + card.tileMultiple[a] + "; use larger raw frames.");
            }
        }
        plan = balancedPlan(card, shape, tile);
    }

    @Override
    protected ImagePlus run(Progress progress) throws Exception {
        ModelCard card = model.card();
        int nZ = indices.length;
        int nf = indices[0].length;
        int h = input.getHeight();
        int w = input.getWidth();
        float[][] planes = new float[nZ][];
        String[] labels = new String[nZ];
        long perPlane = plan.numTiles();
        long[] done = {0};
        for (int z = 0; z < nZ; z++) {
            float[][][] data = new float[nf][1][];
            float[][] flat = new float[nf][];
            for (int k = 0; k < nf; k++) {
                flat[k] = ImageConversion.toFloat(input, indices[z][k] + 1);
                data[k][0] = flat[k];
            }
            checkFinite(flat, z);
            checkOod(nZ > 1 ? "plane " + (z + 1) : "image", flat, w);
            double[] range = Normalizer.percentileRange(flat, card.normLow(), card.normHigh());
            double[] lo = new double[nf];
            double[] hi = new double[nf];
            java.util.Arrays.fill(lo, range[0]);
            java.util.Arrays.fill(hi, range[1]);
            Progress p = blockProgress(progress, done, perPlane * nZ);
            Block out = TiledInference.predict(model, new Block(data, 1, h, w), plan, lo, hi, card.outputKinds(), 1, p);
            planes[z] = out.data[0][0];
            labels[z] = "SIM z=" + (z + 1);
        }
        String title = input.getShortTitle() + "-SIM";
        ImagePlus out = ImageConversion.toImagePlus(title, planes, 2 * w, 2 * h, 1, nZ, 1, input,
                new int[] {2, 2, 1}, labels);
        out.setProperty("Info", info());
        return out;
    }

    private void checkFinite(float[][] frames, int z) {
        for (float[] px : frames) {
            for (int i = 0; i < px.length; i++) {
                if (!Float.isFinite(px[i])) {
                    throw new FluoreconException("Raw stack '" + input.getTitle() + "' has NaN or infinite pixels "
                            + "(z plane " + (z + 1) + "); replace them (Process › Math › Remove NaNs…) first.");
                }
            }
        }
    }

    /** Provenance for the output's Info. */
    public String info() {
        ModelCard card = model.card();
        StringBuilder sb = infoHeader("SIM reconstruction");
        sb.append("sim.method = learned\n");
        sb.append("sim.order = ").append(order).append('\n');
        sb.append("sim.angles = ").append(nAngles).append('\n');
        sb.append("sim.phases = ").append(nPhases).append('\n');
        sb.append("sim.frames = ").append(card.train.get("frames")).append('\n');
        sb.append("sim.z_planes = ").append(indices.length).append('\n');
        appendModel(sb);
        sb.append("settings.tile = ").append(ModelCard.join(plan.tile)).append('\n');
        appendThreads(sb);
        sb.append("settings.norm = ").append(card.norm).append(" over all frames of a z plane\n");
        appendExecution(sb);
        sb.append(String.format(Locale.ROOT, "input.dimensions = %dx%d, %d images, %d-bit%n", input.getWidth(),
                input.getHeight(), input.getStackSize(), input.getBitDepth()));
        return sb.toString();
    }

}
