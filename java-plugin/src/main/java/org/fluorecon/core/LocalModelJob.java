package org.fluorecon.core;

import ij.ImagePlus;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CancellationException;

/**
 * The life of a local ONNX model job, TrackMate style, once: {@link #checkInput()} runs the
 * subclass's {@link #check()} and turns any failure into the user's message, {@link #process}
 * runs {@link #run} with progress and turns cancellation, out-of-memory and model failures into
 * messages; no result is kept after a failure. The helpers hold the checks and Info lines every
 * model job words the same way.
 *
 * @param <R> the result, e.g. the output image
 */
public abstract class LocalModelJob<R> implements Job {
    protected final ImagePlus input;
    protected final Path modelFile;
    protected final int threads;
    protected final boolean useGpu;
    private final Model.Opener opener;

    private String verb;
    private String command;
    private String outOfMemory;

    protected Model model;
    protected String errorMessage = "";
    private boolean cancelled;
    private R result;
    /** The out-of-distribution verdicts of the last run, one per input unit ({@link #checkOod}). */
    protected final OodReport ood = new OodReport();

    /**
     * @param verb        what the job does, after "Cannot … with model", e.g. "run learned SIM"
     * @param command     the name in "… was cancelled", e.g. "SIM reconstruction"
     * @param outOfMemory the message when the heap runs out, {@code %s} for the image's title
     */
    protected LocalModelJob(ImagePlus input, Path modelFile, int threads, boolean useGpu, Model.Opener opener,
                            String verb, String command, String outOfMemory) {
        this.input = input;
        this.modelFile = modelFile;
        this.threads = threads;
        this.useGpu = useGpu;
        this.opener = opener;
        this.verb = verb;
        this.command = command;
        this.outOfMemory = outOfMemory;
    }

    /** Renames the job in its messages (a job configured for another command after it was built). */
    protected void describe(String verb, String command, String outOfMemory) {
        this.verb = verb;
        this.command = command;
        this.outOfMemory = outOfMemory;
    }

    /** Validates image, settings and model (loading it); throws {@link FluoreconException} in the user's words. */
    protected abstract void check();

    /** Runs the model (called after a successful {@link #check()}); the result. */
    protected abstract R run(Progress progress) throws Exception;

    @Override
    public boolean checkInput() {
        try {
            check();
            return true;
        } catch (FluoreconException e) {
            errorMessage = e.getMessage();
        } catch (RuntimeException e) {
            errorMessage = "Cannot " + verb + " with model '" + (modelFile == null ? "" : modelFile.getFileName())
                    + "': " + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        model = null;
        return false;
    }

    @Override
    public boolean process(Progress progress) {
        if (model == null && !checkInput()) {
            return false;
        }
        result = null;
        ood.clear();
        try {
            result = run(progress == null ? Progress.NONE : progress);
            ood.mark(markedImage(result));
            return true;
        } catch (CancellationException e) {
            cancelled = true;
            errorMessage = command + " was cancelled; no output was made.";
        } catch (FluoreconException e) {
            errorMessage = e.getMessage();
        } catch (OutOfMemoryError e) {
            errorMessage = String.format(outOfMemory, input.getTitle());
        } catch (Exception e) {
            errorMessage = "Model '" + modelFile.getFileName() + "' failed on image '" + input.getTitle() + "': "
                    + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        return false;
    }

    /**
     * Checks one raw input unit (the planes the model takes together, {@code width} pixels wide, camera
     * units) against the card's training statistics ({@link OodCheck}); the verdict goes to the
     * output's Info and title and to the Log. Pixel size from the input's calibration.
     */
    protected void checkOod(String unit, float[][] planes, int width) {
        checkOod(unit, planes, width, input == null ? Double.NaN : Sampling.pixelNm(input));
    }

    /** {@link #checkOod(String, float[][], int)} with a known pixel size (nm; NaN: none). */
    protected void checkOod(String unit, float[][] planes, int width, double pixelNm) {
        ModelCard card = model.card();
        OodCheck.Result r;
        try {
            r = OodCheck.check(planes, width, card.qc, card.norm, pixelNm);
        } catch (FluoreconException e) { // e.g. a plane smaller than one noise block: the model still runs
            r = OodCheck.Result.unchecked(e.getMessage());
        } catch (RuntimeException e) { // the check never stops a run; it says it could not look
            r = OodCheck.Result.unchecked("The OOD check failed on this input (" + e + "); the result is unchecked.");
        }
        ood.add(unit, r);
    }

    /** The image the OOD verdict marks (Info, title): the result when it is an image. */
    protected ImagePlus markedImage(R result) {
        return result instanceof ImagePlus ? (ImagePlus) result : null;
    }

    /** No image, RGB, or a bit depth other than 8, 16, 32: {@code "No image is open; " + openHint}. */
    protected void checkImage(String openHint) {
        if (input == null) {
            throw new FluoreconException("No image is open; " + openHint);
        }
        int bits = input.getBitDepth();
        if (bits == 24) {
            throw new FluoreconException(ImageToImageJob.RGB_MESSAGE);
        }
        if (bits != 8 && bits != 16 && bits != 32) {
            throw new FluoreconException("Image '" + input.getTitle() + "' is " + bits
                    + "-bit; convert it with Image › Type › 32-bit first.");
        }
    }

    /** Negative tile or threads in one message. */
    protected void checkCounts(int tile) {
        if (tile < 0 || threads < 0) {
            throw new FluoreconException("tile = " + tile + ", threads = " + threads + ": use 0 (automatic) or a "
                    + "positive number.");
        }
    }

    /** Negative tile or threads, each in its own message. */
    protected void checkTileThreads(int tile) {
        if (tile < 0) {
            throw new FluoreconException("tile = " + tile + " is negative; use 0 for the model's default tile or a "
                    + "positive size in pixels.");
        }
        if (threads < 0) {
            throw new FluoreconException("threads = " + threads + " is negative; use 0 for automatic or a positive count.");
        }
    }

    /** Refuses a 32-bit input with a NaN or infinite pixel, naming the first one (x, y, 1-based slice). */
    protected void checkFinite() {
        if (input.getBitDepth() != 32) {
            return;
        }
        int w = input.getWidth();
        for (int s = 1; s <= input.getStackSize(); s++) {
            float[] px = (float[]) input.getStack().getPixels(s);
            for (int i = 0; i < px.length; i++) {
                if (!Float.isFinite(px[i])) {
                    throw new FluoreconException("Image '" + input.getTitle() + "' has NaN or infinite pixels (first at x="
                            + (i % w) + ", y=" + (i / w) + ", slice " + s + "); replace them, e.g. with Process › "
                            + "Math › Remove NaNs…, first.");
                }
            }
        }
    }

    /** Loads the model ({@code noModel} when none was chosen) and returns its card. */
    protected ModelCard openModel(String noModel) {
        if (modelFile == null) {
            throw new FluoreconException(noModel);
        }
        model = opener.open(modelFile, threads, useGpu);
        return model.card();
    }

    protected String modelName() {
        return modelFile.getFileName().toString();
    }

    /** A model of another task: {@code "Model 'x' is a denoise model (task=denoise); " + needs}. */
    protected FluoreconException wrongTask(ModelCard card, String needs) {
        return new FluoreconException("Model '" + modelName() + "' is a " + card.task + " model (task=" + card.task
                + "); " + needs);
    }

    /**
     * Tiles of the card's default (or {@code tile} on the last two axes) balanced over {@code shape};
     * a model with a fixed input size gets that size.
     */
    protected Tiling.Plan balancedPlan(ModelCard card, int[] shape, int tile) {
        int[] fixed = model.fixedTile();
        int nd = shape.length;
        int[] request = card.tileDefault.clone();
        for (int a = 0; a < nd; a++) {
            if (tile > 0 && a >= nd - 2) {
                if (fixed[a] == 0) {
                    Tiling.checkRequestedTile(tile, card.tileHalo[a], card.tileMultiple[a]);
                }
                request[a] = tile;
            }
            request[a] = fixed[a] > 0 ? fixed[a]
                    : Tiling.balancedTile(shape[a], request[a], card.tileHalo[a], card.tileMultiple[a]);
        }
        return Tiling.plan(shape, request, card.tileHalo, card.tileMultiple, card.scale);
    }

    /**
     * {@link #balancedPlan}, refused when a model with a fixed input size would need other tiles:
     * "… but {@code what} needs [..]; {@code use}".
     */
    protected Tiling.Plan fixedSizePlan(ModelCard card, int[] shape, int tile, String what, String use) {
        int[] fixed = model.fixedTile();
        Tiling.Plan p = balancedPlan(card, shape, tile);
        for (int a = 0; a < shape.length; a++) {
            if (fixed[a] > 0 && fixed[a] != p.tile[a]) {
                throw new FluoreconException("Model '" + modelName() + "' only accepts tiles of "
                        + Arrays.toString(fixed) + " pixels but " + what + " needs "
                        + Arrays.toString(p.tile) + "; " + use);
            }
        }
        return p;
    }

    /**
     * Progress of one block of a run whose tiles are counted across blocks: the block's tile
     * {@code d} shows as {@code done[0] = base + d} of {@code total}.
     */
    protected static Progress blockProgress(Progress parent, long[] done, long total) {
        long base = done[0];
        return new Progress() {
            @Override
            public void update(long d, long t) {
                done[0] = base + d;
                parent.update(done[0], total);
            }

            @Override
            public boolean isCancelled() {
                return parent.isCancelled();
            }
        };
    }

    /** The first lines of an Info: {@code fluorecon.command} and {@code fluorecon.version}. */
    protected static StringBuilder infoHeader(String command) {
        return new StringBuilder().append("fluorecon.command = ").append(command).append('\n')
                .append("fluorecon.version = ").append(Version.get()).append('\n');
    }

    /** {@code model.name}, {@code model.file} and {@code model.sha256} lines of an Info. */
    protected void appendModel(StringBuilder sb) {
        ModelCard card = model.card();
        sb.append("model.name = ").append(card.name).append('\n');
        sb.append("model.file = ").append(model.path()).append('\n');
        sb.append("model.sha256 = ").append(model.sha256()).append('\n');
    }

    /** {@code settings.threads} line of an Info. */
    protected void appendThreads(StringBuilder sb) {
        sb.append("settings.threads = ").append(threads == 0 ? "auto" : Integer.toString(threads)).append('\n');
    }

    /** {@code execution.provider} (and {@code execution.note}) and {@code input.title} lines of an Info. */
    protected void appendExecution(StringBuilder sb) {
        sb.append("execution.provider = ").append(model.provider()).append('\n');
        if (!model.providerNote().isEmpty()) {
            sb.append("execution.note = ").append(model.providerNote()).append('\n');
        }
        sb.append("input.title = ").append(input.getTitle()).append('\n');
    }

    /** {@code input.dimensions} line of an Info; {@code dims} = channels, slices, frames. */
    protected void appendDimensions(StringBuilder sb, int[] dims) {
        sb.append(String.format(Locale.ROOT, "input.dimensions = %dx%d, c=%d z=%d t=%d, %d-bit%n",
                input.getWidth(), input.getHeight(), dims[0], dims[1], dims[2], input.getBitDepth()));
    }

    @Override
    public String getErrorMessage() {
        return errorMessage;
    }

    @Override
    public boolean isCancelled() {
        return cancelled;
    }

    /** The result after a successful {@link #process}; null otherwise. */
    public R getResult() {
        return result;
    }

    /** The image the job runs on. */
    public ImagePlus getInput() {
        return input;
    }

    /** The out-of-distribution verdicts of the last run (empty before one). */
    public OodReport getOod() {
        return ood;
    }

    /** The model, after {@link #checkInput()} loaded it. */
    public Model getModel() {
        return model;
    }
}
