package org.fluorecon.core;

import ij.ImagePlus;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Runs an image-to-image model (denoise by default; learned deconvolution and upsampling through
 * {@link #forTask}) on one ImageJ image, TrackMate style: {@link #checkInput()}, then
 * {@link #process(Progress)}, with {@link #getErrorMessage()} after either returns false.
 *
 * <p>Every channel and frame is predicted on its own: plane by plane for a 2D model, z-stack by
 * z-stack for a 3D model, each normalized over its own block. The result is a new 32-bit image;
 * nothing is produced when a check fails, the model fails or the user cancels.
 */
public final class ImageToImageJob extends LocalModelJob<ImagePlus> {

    public static final String TASK = "denoise";
    public static final String COMMAND = "Denoise";
    public static final String RGB_MESSAGE = "Image is RGB; convert it with Image › Type › 32-bit first.";

    private final int tile;
    private String task = TASK;
    private String command = COMMAND;
    private String suffix = "-denoised";

    private Tiling.Plan plan;
    private int[] dims;

    /**
     * @param input     image to denoise (8-, 16- or 32-bit; 2D, 3D, time series, multichannel)
     * @param modelFile the .onnx model
     * @param tile      tile side in pixels for y and x; 0 = the card's default
     * @param threads   ONNX Runtime threads; 0 = automatic
     * @param useGpu    try the CUDA provider
     * @param opener    loads the model, e.g. {@code Predictor::open}
     */
    public ImageToImageJob(ImagePlus input, Path modelFile, int tile, int threads, boolean useGpu, Model.Opener opener) {
        super(input, modelFile, threads, useGpu, opener, "denoise", COMMAND, outOfMemory(COMMAND));
        this.tile = tile;
    }

    /**
     * Runs models of another image-to-image task through the same path (e.g. learned
     * deconvolution: {@code forTask("deconvolve", "Deconvolve", "-deconvolved")}).
     *
     * @param task    the card's required {@code task}
     * @param command the command name used in messages and the Info
     * @param suffix  appended to the input's title
     */
    public ImageToImageJob forTask(String task, String command, String suffix) {
        this.task = task;
        this.suffix = suffix;
        this.command = command;
        describe(command.toLowerCase(Locale.ROOT), command, outOfMemory(command));
        return this;
    }

    /** Tasks whose models do not map an image to an image on its grid (frames, tables, views, labels). */
    public static final java.util.Set<String> NOT_IMAGE_TO_IMAGE = java.util.Set.of("localize", "sim", "lightfield",
            "unmix", "register");

    /**
     * Runs any carded image-to-image model, whatever its task (denoise, deconvolve, upsample, isotropic,
     * crossmodal, or a model imported from elsewhere), with the card's checks; the title's suffix is
     * {@code -<task>}. Models of {@link #NOT_IMAGE_TO_IMAGE} tasks are refused, naming their command.
     */
    public ImageToImageJob forAnyTask(String command) {
        forTask(null, command, null);
        return this;
    }

    private static String outOfMemory(String command) {
        return "Out of memory while running " + command + " on '%s'; use a smaller tile, fewer images, or give ImageJ "
                + "more memory (Edit › Options › Memory & Threads).";
    }

    @Override
    protected void check() {
        checkImage("open an image first.");
        if (input.getStackSize() < 1 || input.getWidth() < 1 || input.getHeight() < 1 || input.getStack().getSize() < 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' is empty (no pixels); open an image with data.");
        }
        checkTileThreads(tile);
        dims = ImageConversion.dimensions(input);
        ModelCard card = openModel("No model chosen; pick an installed model or give model_file=/path/to/model.onnx.");
        String name = modelName();
        if (task == null) {
            if (NOT_IMAGE_TO_IMAGE.contains(card.task)) {
                throw new FluoreconException("Model '" + name + "' has task=" + card.task + ", which does not map an image "
                        + "to an image; run it with its own command (Plugins › fluorecon), not " + command + ".");
            }
            suffix = "-" + card.task.replaceAll("[^A-Za-z0-9_-]", "");
        } else if (!task.equals(card.task)) {
            if ("upsample".equals(task) && "isotropic".equals(card.task)) {
                throw new FluoreconException("Model '" + name + "' is an isotropic-restoration model (task="
                        + card.task + "): use Plugins › fluorecon › Isotropic restoration… on the z-stack; " + command
                        + " needs a model with task=" + task + ".");
            }
            throw wrongTask(card, command + " needs a model with task=" + task + ".");
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
        plan = fixedSizePlan(card, shape, tile, "this image", "use a larger image or a model exported with dynamic sizes.");
        checkFinite();
    }

    @Override
    protected ImagePlus run(Progress progress) throws Exception {
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
        int outC = nC * cOut;
        int outZ = nZ * sz;
        float[][] planes = new float[outC * outZ * nT][];
        String[] labels = new String[planes.length];
        int blocksPerChannel = is3d ? 1 : nZ;
        long totalTiles = (long) plan.numTiles() * blocksPerChannel * nC * nT;
        long[] done = {0};
        for (int t = 0; t < nT; t++) {
            for (int c = 0; c < nC; c++) {
                for (int b = 0; b < blocksPerChannel; b++) {
                    Block in = ImageConversion.block(input, c, is3d ? -1 : b, t);
                    checkOod(OodReport.label(dims, c, is3d ? -1 : b, t), in.data[0], input.getWidth());
                    double[] range = card.normRange(in.data[0]);
                    Block out = TiledInference.predict(model, in, plan, new double[] {range[0]},
                            new double[] {range[1]}, card.outputKinds(), cOut, blockProgress(progress, done, totalTiles));
                    for (int k = 0; k < cOut; k++) {
                        for (int oz = 0; oz < out.depth; oz++) {
                            int idx = ImageConversion.stackIndex(c * cOut + k, is3d ? oz : b, t, outC, outZ);
                            planes[idx] = out.data[k][oz];
                            labels[idx] = label(card, k);
                        }
                    }
                }
            }
        }
        ImagePlus out = ImageConversion.toImagePlus(input.getShortTitle() + suffix, planes, input.getWidth() * sx,
                input.getHeight() * sy, outC, outZ, nT, input, new int[] {sx, sy, sz}, labels);
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
        StringBuilder sb = infoHeader(command);
        appendModel(sb);
        sb.append("model.task = ").append(card.task).append('\n');
        sb.append("model.method = ").append(card.method).append('\n');
        sb.append("model.axes = ").append(card.axesIn).append('\n');
        sb.append("model.outputs = ").append(card.outputs).append('\n');
        sb.append("settings.tile = ").append(ModelCard.join(plan.tile)).append('\n');
        sb.append("settings.halo = ").append(ModelCard.join(plan.halo)).append('\n');
        sb.append("settings.tiles_per_block = ").append(plan.numTiles()).append('\n');
        appendThreads(sb);
        sb.append("settings.use_gpu = ").append(useGpu).append('\n');
        sb.append("settings.norm = ").append(card.norm).append(card.ndim() == 2 ? " per plane" : " per z-stack")
                .append(" (each channel and frame separately)\n");
        appendExecution(sb);
        appendDimensions(sb, dims);
        return sb.toString();
    }

    public Tiling.Plan getPlan() {
        return plan;
    }
}
