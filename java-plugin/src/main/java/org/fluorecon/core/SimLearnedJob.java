package org.fluorecon.core;

import ij.ImagePlus;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.CancellationException;

/**
 * Learned SIM reconstruction of a raw stack with a fluorecon model (card {@code task = sim},
 * {@code channels.in} = raw frames, {@code scale} 2), TrackMate style. For each z plane the
 * model's frames (card {@code train.frames}) become the input channels, all normalized with one
 * percentile pair over those frames; {@link TiledInference} runs the tiles. The result has one
 * slice per z plane, twice the width and height, and half the input's pixel size. Mirrors
 * {@code fluorecon.tasks.sim_learned.predict_sim}.
 */
public final class SimLearnedJob implements Job {
    public static final String TASK = "sim";

    private final ImagePlus input;
    private final Path modelFile;
    private final String order;
    private final int givenAngles;
    private final int givenPhases;
    private final int tile;
    private final int threads;
    private final boolean useGpu;
    private final Model.Opener opener;

    private Model model;
    private Tiling.Plan plan;
    private int[][] indices;
    private int nAngles;
    private int nPhases;
    private String errorMessage = "";
    private boolean cancelled;
    private ImagePlus result;

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
        this.input = input;
        this.modelFile = modelFile;
        this.order = order;
        this.givenAngles = angles;
        this.givenPhases = phases;
        this.tile = tile;
        this.threads = threads;
        this.useGpu = useGpu;
        this.opener = opener;
    }

    @Override
    public boolean checkInput() {
        try {
            check();
            return true;
        } catch (FluoreconException e) {
            errorMessage = e.getMessage();
        } catch (RuntimeException e) {
            errorMessage = "Cannot run learned SIM with model '" + (modelFile == null ? "" : modelFile.getFileName())
                    + "': " + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        model = null;
        return false;
    }

    private void check() {
        if (input == null) {
            throw new FluoreconException("No image is open; open a raw SIM stack first.");
        }
        int bits = input.getBitDepth();
        if (bits == 24) {
            throw new FluoreconException(DenoiseJob.RGB_MESSAGE);
        }
        if (bits != 8 && bits != 16 && bits != 32) {
            throw new FluoreconException("Image '" + input.getTitle() + "' is " + bits
                    + "-bit; convert it with Image › Type › 32-bit first.");
        }
        if (tile < 0 || threads < 0) {
            throw new FluoreconException("tile = " + tile + ", threads = " + threads + ": use 0 (automatic) or a "
                    + "positive number.");
        }
        if (modelFile == null) {
            throw new FluoreconException("No model chosen; pick an installed SIM model or give "
                    + "model_file=/path/to/sim_2d_9frames.onnx.");
        }
        SimStack.parseOrder(order);
        model = opener.open(modelFile, threads, useGpu);
        ModelCard card = model.card();
        String name = modelFile.getFileName().toString();
        if (!TASK.equals(card.task)) {
            throw new FluoreconException("Model '" + name + "' is a " + card.task + " model (task=" + card.task
                    + "); SIM reconstruction needs a model with task=sim.");
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
        int[] request = card.tileDefault.clone();
        if (tile > 0) {
            request[0] = tile;
            request[1] = tile;
        }
        int[] fixed = model.fixedTile();
        for (int a = 0; a < 2; a++) {
            request[a] = fixed[a] > 0 ? fixed[a]
                    : Tiling.balancedTile(shape[a], request[a], card.tileHalo[a], card.tileMultiple[a]);
        }
        plan = Tiling.plan(shape, request, card.tileHalo, card.tileMultiple, card.scale);
    }

    @Override
    public boolean process(Progress progress) {
        if (model == null && !checkInput()) {
            return false;
        }
        result = null;
        try {
            result = run(progress == null ? Progress.NONE : progress);
            return true;
        } catch (CancellationException e) {
            cancelled = true;
            errorMessage = "SIM reconstruction was cancelled; no output was made.";
        } catch (FluoreconException e) {
            errorMessage = e.getMessage();
        } catch (OutOfMemoryError e) {
            errorMessage = "Out of memory during SIM reconstruction of '" + input.getTitle() + "'; use a smaller "
                    + "tile or give ImageJ more memory (Edit › Options › Memory & Threads).";
        } catch (Exception e) {
            errorMessage = "Model '" + modelFile.getFileName() + "' failed on '" + input.getTitle() + "': "
                    + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        return false;
    }

    private ImagePlus run(Progress progress) throws Exception {
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
            double[] range = Normalizer.percentileRange(flat, card.normLow(), card.normHigh());
            double[] lo = new double[nf];
            double[] hi = new double[nf];
            java.util.Arrays.fill(lo, range[0]);
            java.util.Arrays.fill(hi, range[1]);
            long base = done[0];
            Progress p = new Progress() {
                @Override
                public void update(long d, long total) {
                    done[0] = base + d;
                    progress.update(done[0], perPlane * nZ);
                }

                @Override
                public boolean isCancelled() {
                    return progress.isCancelled();
                }
            };
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
        StringBuilder sb = new StringBuilder();
        sb.append("fluorecon.command = SIM reconstruction\n");
        sb.append("fluorecon.version = ").append(Version.get()).append('\n');
        sb.append("sim.method = learned\n");
        sb.append("sim.order = ").append(order).append('\n');
        sb.append("sim.angles = ").append(nAngles).append('\n');
        sb.append("sim.phases = ").append(nPhases).append('\n');
        sb.append("sim.frames = ").append(card.train.get("frames")).append('\n');
        sb.append("sim.z_planes = ").append(indices.length).append('\n');
        sb.append("model.name = ").append(card.name).append('\n');
        sb.append("model.file = ").append(model.path()).append('\n');
        sb.append("model.sha256 = ").append(model.sha256()).append('\n');
        sb.append("settings.tile = ").append(ModelCard.join(plan.tile)).append('\n');
        sb.append("settings.threads = ").append(threads == 0 ? "auto" : Integer.toString(threads)).append('\n');
        sb.append("settings.norm = ").append(card.norm).append(" over all frames of a z plane\n");
        sb.append("execution.provider = ").append(model.provider()).append('\n');
        if (!model.providerNote().isEmpty()) {
            sb.append("execution.note = ").append(model.providerNote()).append('\n');
        }
        sb.append("input.title = ").append(input.getTitle()).append('\n');
        sb.append(String.format(Locale.ROOT, "input.dimensions = %dx%d, %d images, %d-bit%n", input.getWidth(),
                input.getHeight(), input.getStackSize(), input.getBitDepth()));
        return sb.toString();
    }

    @Override
    public String getErrorMessage() {
        return errorMessage;
    }

    @Override
    public boolean isCancelled() {
        return cancelled;
    }

    public ImagePlus getResult() {
        return result;
    }

    public Model getModel() {
        return model;
    }
}
