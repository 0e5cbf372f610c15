package org.fluorecon.core;

import ij.ImagePlus;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CancellationException;

/**
 * Denoise one ImageJ image with a fluorecon model, TrackMate style: {@link #checkInput()},
 * then {@link #process(Progress)}, with {@link #getErrorMessage()} after either returns false.
 *
 * <p>Every channel and frame is predicted on its own: plane by plane for a 2D model, z-stack by
 * z-stack for a 3D model, each normalized over its own block. The result is a new 32-bit image;
 * nothing is produced when a check fails, the model fails or the user cancels.
 */
public final class DenoiseJob implements Job {

    public static final String TASK = "denoise";
    public static final String RGB_MESSAGE = "Image is RGB; convert it with Image › Type › 32-bit first.";

    private final ImagePlus input;
    private final Path modelFile;
    private final int tile;
    private final int threads;
    private final boolean useGpu;
    private final Model.Opener opener;
    private String task = TASK;
    private String command = "Denoise";
    private String suffix = "-denoised";

    private Model model;
    private Tiling.Plan plan;
    private int[] dims;
    private String errorMessage = "";
    private boolean cancelled;
    private ImagePlus result;

    /**
     * @param input     image to denoise (8-, 16- or 32-bit; 2D, 3D, time series, multichannel)
     * @param modelFile the .onnx model
     * @param tile      tile side in pixels for y and x; 0 = the card's default
     * @param threads   ONNX Runtime threads; 0 = automatic
     * @param useGpu    try the CUDA provider
     * @param opener    loads the model, e.g. {@code Predictor::open}
     */
    public DenoiseJob(ImagePlus input, Path modelFile, int tile, int threads, boolean useGpu, Model.Opener opener) {
        this.input = input;
        this.modelFile = modelFile;
        this.tile = tile;
        this.threads = threads;
        this.useGpu = useGpu;
        this.opener = opener;
    }

    /**
     * Runs models of another image-to-image task through the same path (e.g. learned
     * deconvolution: {@code forTask("deconvolve", "Deconvolve", "-deconvolved")}).
     *
     * @param task    the card's required {@code task}
     * @param command the command name used in messages and the Info
     * @param suffix  appended to the input's title
     */
    public DenoiseJob forTask(String task, String command, String suffix) {
        this.task = task;
        this.command = command;
        this.suffix = suffix;
        return this;
    }

    /** Validates image, parameters and model; false with {@link #getErrorMessage()} when something is wrong. */
    public boolean checkInput() {
        try {
            check();
            return true;
        } catch (FluoreconException e) {
            errorMessage = e.getMessage();
        } catch (RuntimeException e) {
            errorMessage = "Cannot " + command.toLowerCase(Locale.ROOT) + " with model '" + (modelFile == null ? "" : modelFile.getFileName()) + "': "
                    + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        model = null;
        return false;
    }

    private void check() {
        if (input == null) {
            throw new FluoreconException("No image is open; open an image first.");
        }
        if (input.getBitDepth() == 24) {
            throw new FluoreconException(RGB_MESSAGE);
        }
        if (input.getStackSize() < 1 || input.getWidth() < 1 || input.getHeight() < 1 || input.getStack().getSize() < 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' is empty (no pixels); open an image with data.");
        }
        int bits = input.getBitDepth();
        if (bits != 8 && bits != 16 && bits != 32) {
            throw new FluoreconException("Image '" + input.getTitle() + "' is " + bits
                    + "-bit; convert it with Image › Type › 32-bit first.");
        }
        if (tile < 0) {
            throw new FluoreconException("tile = " + tile + " is negative; use 0 for the model's default tile or a "
                    + "positive size in pixels.");
        }
        if (threads < 0) {
            throw new FluoreconException("threads = " + threads + " is negative; use 0 for automatic or a positive count.");
        }
        if (modelFile == null) {
            throw new FluoreconException("No model chosen; pick an installed model or give model_file=/path/to/model.onnx.");
        }
        dims = ImageConversion.dimensions(input);
        model = opener.open(modelFile, threads, useGpu);
        ModelCard card = model.card();
        String name = modelFile.getFileName().toString();
        if (!task.equals(card.task)) {
            throw new FluoreconException("Model '" + name + "' is a " + card.task + " model (task=" + card.task
                    + "); " + command + " needs a model with task=" + task + ".");
        }
        if (card.channelsIn != 1) {
            throw new FluoreconException("Model '" + name + "' expects " + card.channelsIn + " input channels; " + command + " "
                    + "processes one channel at a time and needs a single-channel model.");
        }
        if (card.ndim() == 3 && dims[1] < 2) {
            throw new FluoreconException("Model '" + name + "' is a 3D model (axes " + card.axesIn + ") but image '"
                    + input.getTitle() + "' has a single z-slice; use a 2D model or a z-stack.");
        }
        int[] shape = card.ndim() == 2 ? new int[] {input.getHeight(), input.getWidth()}
                : new int[] {dims[1], input.getHeight(), input.getWidth()};
        String[] axisNames = card.ndim() == 2 ? new String[] {"height (Y)", "width (X)"}
                : new String[] {"depth (Z)", "height (Y)", "width (X)"};
        for (int a = 0; a < shape.length; a++) {
            if (shape[a] < card.tileMultiple[a]) {
                throw new FluoreconException("Image '" + input.getTitle() + "' is " + shape[a] + " pixels in "
                        + axisNames[a] + ", smaller than the model's tile multiple " + card.tileMultiple[a]
                        + "; use an image at least " + card.tileMultiple[a] + " pixels in " + axisNames[a] + ".");
            }
        }
        int[] request = tileRequest(card, model.fixedTile());
        for (int a = 0; a < request.length; a++) {
            if (model.fixedTile()[a] == 0) {
                request[a] = Tiling.balancedTile(shape[a], request[a], card.tileHalo[a], card.tileMultiple[a]);
            }
        }
        plan = Tiling.plan(shape, request, card.tileHalo, card.tileMultiple, card.scale);
        int[] fixed = model.fixedTile();
        for (int a = 0; a < fixed.length; a++) {
            if (fixed[a] > 0 && fixed[a] != plan.tile[a]) {
                throw new FluoreconException("Model '" + name + "' only accepts tiles of " + Arrays.toString(fixed)
                        + " pixels but this image needs " + Arrays.toString(plan.tile) + "; use a larger image or "
                        + "a model exported with dynamic sizes.");
            }
        }
        checkFinite();
    }

    private int[] tileRequest(ModelCard card, int[] fixed) {
        int nd = card.ndim();
        int[] t = card.tileDefault.clone();
        if (tile > 0) {
            t[nd - 1] = tile;
            t[nd - 2] = tile;
        }
        for (int a = 0; a < nd; a++) {
            if (fixed[a] > 0) {
                t[a] = fixed[a];
            }
        }
        return t;
    }

    private void checkFinite() {
        if (input.getBitDepth() != 32) {
            return;
        }
        int n = input.getStackSize();
        int w = input.getWidth();
        for (int s = 1; s <= n; s++) {
            float[] px = (float[]) input.getStack().getPixels(s);
            for (int i = 0; i < px.length; i++) {
                if (!Float.isFinite(px[i])) {
                    throw new FluoreconException("Image '" + input.getTitle() + "' has NaN or infinite pixels (first at x="
                            + (i % w) + ", y=" + (i / w) + ", slice " + s + "); replace them, e.g. with Process › Math › "
                            + "Remove NaNs…, first.");
                }
            }
        }
    }

    /**
     * Predicts every block. Returns false (and leaves no result) on error or cancellation.
     */
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
            errorMessage = command + " was cancelled; no output was made.";
        } catch (FluoreconException e) {
            errorMessage = e.getMessage();
        } catch (OutOfMemoryError e) {
            errorMessage = "Out of memory while running " + command + " on '" + input.getTitle() + "'; use a smaller tile, fewer "
                    + "images, or give ImageJ more memory (Edit › Options › Memory & Threads).";
        } catch (Exception e) {
            errorMessage = "Model '" + modelFile.getFileName() + "' failed on image '" + input.getTitle() + "': "
                    + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        return false;
    }

    private ImagePlus run(Progress progress) throws Exception {
        ModelCard card = model.card();
        int nC = dims[0];
        int nZ = dims[1];
        int nT = dims[2];
        boolean is3d = card.ndim() == 3;
        int cOut = card.channelsOut;
        int[] s = card.scale;
        int sx = s[s.length - 1];
        int sy = s[s.length - 2];
        int sz = is3d ? s[0] : 1;
        int outW = input.getWidth() * sx;
        int outH = input.getHeight() * sy;
        int outC = nC * cOut;
        int outZ = nZ * sz;
        float[][] planes = new float[outC * outZ * nT][];
        String[] labels = new String[planes.length];
        int blocksPerChannel = is3d ? 1 : nZ;
        long tilesPerBlock = plan.numTiles();
        long totalTiles = tilesPerBlock * blocksPerChannel * nC * nT;
        double low = card.normLow();
        double high = card.normHigh();
        long[] done = {0};
        for (int t = 0; t < nT; t++) {
            for (int c = 0; c < nC; c++) {
                for (int b = 0; b < blocksPerChannel; b++) {
                    int z = is3d ? -1 : b;
                    Block in = ImageConversion.block(input, c, z, t);
                    double[] range = Normalizer.percentileRange(in.data[0], low, high);
                    long base = done[0];
                    Progress p = new Progress() {
                        @Override
                        public void update(long d, long total) {
                            done[0] = base + d;
                            progress.update(done[0], totalTiles);
                        }

                        @Override
                        public boolean isCancelled() {
                            return progress.isCancelled();
                        }
                    };
                    Block out = TiledInference.predict(model, in, plan, new double[] {range[0]},
                            new double[] {range[1]}, card.outputKinds(), cOut, p);
                    for (int k = 0; k < cOut; k++) {
                        for (int oz = 0; oz < out.depth; oz++) {
                            int zIndex = is3d ? oz : b;
                            int idx = ImageConversion.stackIndex(c * cOut + k, zIndex, t, outC, outZ);
                            planes[idx] = out.data[k][oz];
                            labels[idx] = label(card, k);
                        }
                    }
                }
            }
        }
        String title = input.getShortTitle() + suffix;
        ImagePlus out = ImageConversion.toImagePlus(title, planes, outW, outH, outC, outZ, nT, input,
                new int[] {sx, sy, sz}, labels);
        out.setProperty("Info", info());
        return out;
    }

    private static String label(ModelCard card, int k) {
        String[] kinds = card.outputKinds();
        int per = card.channelsOut / kinds.length;
        return kinds[Math.min(k / per, kinds.length - 1)];
    }

    /** Provenance for the output's Info: model, sha256, version, settings, the provider that ran. */
    public String info() {
        ModelCard card = model.card();
        StringBuilder sb = new StringBuilder();
        sb.append("fluorecon.command = ").append(command).append('\n');
        sb.append("fluorecon.version = ").append(Version.get()).append('\n');
        sb.append("model.name = ").append(card.name).append('\n');
        sb.append("model.file = ").append(model.path()).append('\n');
        sb.append("model.sha256 = ").append(model.sha256()).append('\n');
        sb.append("model.task = ").append(card.task).append('\n');
        sb.append("model.method = ").append(card.method).append('\n');
        sb.append("model.axes = ").append(card.axesIn).append('\n');
        sb.append("model.outputs = ").append(card.outputs).append('\n');
        sb.append("settings.tile = ").append(ModelCard.join(plan.tile)).append('\n');
        sb.append("settings.halo = ").append(ModelCard.join(plan.halo)).append('\n');
        sb.append("settings.tiles_per_block = ").append(plan.numTiles()).append('\n');
        sb.append("settings.threads = ").append(threads == 0 ? "auto" : Integer.toString(threads)).append('\n');
        sb.append("settings.use_gpu = ").append(useGpu).append('\n');
        sb.append("settings.norm = ").append(card.norm).append(card.ndim() == 2 ? " per plane" : " per z-stack")
                .append(" (each channel and frame separately)\n");
        sb.append("execution.provider = ").append(model.provider()).append('\n');
        if (!model.providerNote().isEmpty()) {
            sb.append("execution.note = ").append(model.providerNote()).append('\n');
        }
        sb.append("input.title = ").append(input.getTitle()).append('\n');
        sb.append(String.format(Locale.ROOT, "input.dimensions = %dx%d, c=%d z=%d t=%d, %d-bit%n", input.getWidth(),
                input.getHeight(), dims[0], dims[1], dims[2], input.getBitDepth()));
        return sb.toString();
    }

    public String getErrorMessage() {
        return errorMessage;
    }

    public boolean isCancelled() {
        return cancelled;
    }

    /** The denoised image after a successful {@link #process}; null otherwise. */
    public ImagePlus getResult() {
        return result;
    }

    /** The model, after {@link #checkInput()} loaded it. */
    public Model getModel() {
        return model;
    }

    public Tiling.Plan getPlan() {
        return plan;
    }
}
