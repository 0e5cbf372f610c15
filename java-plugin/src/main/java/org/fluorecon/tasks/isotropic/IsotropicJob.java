package org.fluorecon.tasks.isotropic;

import ij.ImagePlus;
import ij.measure.Calibration;
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
 * Isotropic restoration of an anisotropic z-stack (Weigert et al., MICCAI 2017), the Java twin of
 * {@code fluorecon.tasks.isotropic.restore_isotropic}: each z-stack (per channel and frame) is
 * stretched {@code z_factor}× along z by linear interpolation with half-pixel centres, the 2D
 * model runs on every XZ slice and on every YZ slice (z on the slice's last axis, as the degraded
 * axis of the training planes; each slice normalized over itself), and the two views are averaged.
 * The result has {@code z_factor}× more slices and its z step divided by {@code z_factor}.
 */
public final class IsotropicJob extends LocalModelJob<ImagePlus> {

    public static final String TASK = "isotropic";
    public static final String COMMAND = "Isotropic restoration";

    private final int tile;

    private int zFactor;
    private int[] dims;
    private Tiling.Plan planXZ;
    private Tiling.Plan planYZ;

    /**
     * @param input     anisotropic z-stack (8-, 16- or 32-bit; channels and frames are done one by one)
     * @param modelFile an isotropic model (card task=isotropic, train.z_factor)
     * @param tile      tile side in pixels for both slice axes; 0 = the card's default
     * @param threads   ONNX Runtime threads; 0 = automatic
     * @param useGpu    try the CUDA provider
     * @param opener    loads the model, e.g. {@code Predictor::open}
     */
    public IsotropicJob(ImagePlus input, Path modelFile, int tile, int threads, boolean useGpu, Model.Opener opener) {
        super(input, modelFile, threads, useGpu, opener, "run isotropic restoration", COMMAND,
                "Out of memory during isotropic restoration of '%s'; crop the stack, or give ImageJ more memory (Edit › Options › Memory & Threads).");
        this.tile = tile;
    }

    @Override
    protected void check() {
        checkImage("open an anisotropic z-stack first.");
        checkTileThreads(tile);
        dims = ImageConversion.dimensions(input);
        if (dims[1] < 2) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has a single z-slice; isotropic restoration "
                    + "needs a z-stack (if the stack's slices are frames, fix it with Image › Properties…).");
        }
        ModelCard card = openModel("No model chosen; pick an installed isotropic model or give "
                + "model_file=/path/to/model.onnx.");
        String name = modelName();
        if (!TASK.equals(card.task) || !card.train.containsKey("z_factor")) {
            throw wrongTask(card, "isotropic restoration needs a model with task=isotropic and train.z_factor "
                    + "(fluorecon train isotropic).");
        }
        try {
            zFactor = Integer.parseInt(card.train.get("z_factor").trim());
        } catch (NumberFormatException e) {
            throw new FluoreconException("Model '" + name + "' has train.z_factor = '" + card.train.get("z_factor")
                    + "', not an integer; re-export the model.");
        }
        if (zFactor < 1) {
            throw new FluoreconException("Model '" + name + "' has train.z_factor = " + zFactor + "; it must be >= 1.");
        }
        if (card.ndim() != 2 || card.channelsIn != 1 || card.scale[0] != 1 || card.scale[1] != 1) {
            throw new FluoreconException("Model '" + name + "' is not a single-channel 2D model of scale 1 (axes "
                    + card.axesIn + ", channels " + card.channelsIn + ", scale " + ModelCard.join(card.scale)
                    + "); isotropic restoration applies a 2D model to XZ and YZ slices.");
        }
        checkSampling(name);
        int w = input.getWidth();
        int h = input.getHeight();
        int zs = dims[1] * zFactor;
        int[][] shapes = {{w, zs}, {h, zs}};
        String[] names = {"width (X)", "height (Y)"};
        for (int v = 0; v < 2; v++) {
            if (shapes[v][0] < card.tileMultiple[0]) {
                throw new FluoreconException("Image '" + input.getTitle() + "' is " + shapes[v][0] + " pixels in "
                        + names[v] + ", smaller than the model's tile multiple " + card.tileMultiple[0] + ".");
            }
            if (zs < card.tileMultiple[1]) {
                throw new FluoreconException("Image '" + input.getTitle() + "' has " + dims[1] + " slices (" + zs
                        + " after ×" + zFactor + "), fewer than the model's tile multiple " + card.tileMultiple[1] + ".");
            }
        }
        planXZ = plan(card, shapes[0]);
        planYZ = plan(card, shapes[1]);
        checkFinite();
    }

    /** Same words and 25% tolerance as restore_isotropic: the model was trained for one sampling. */
    private void checkSampling(String name) {
        Calibration cal = input.getCalibration();
        if (!cal.scaled() || cal.pixelWidth <= 0 || cal.pixelDepth <= 0) {
            return;
        }
        double ratio = cal.pixelDepth / cal.pixelWidth;
        if (Math.abs(ratio / zFactor - 1) > 0.25) {
            String twoDigits = new java.math.BigDecimal(ratio).round(new java.math.MathContext(2))
                    .stripTrailingZeros().toPlainString();  // Python's {:.2g}
            throw new FluoreconException(String.format(Locale.ROOT, "The stack's z step is %s× its pixel size but "
                    + "model '%s' was trained for %d×; train a model for this sampling (fluorecon train isotropic "
                    + "--z-factor %d) or check Image › Properties.", twoDigits, name, zFactor,
                    Math.max(2, Math.round(ratio))));
        }
    }

    private Tiling.Plan plan(ModelCard card, int[] shape) {
        return fixedSizePlan(card, shape, tile, "this stack", "use a model exported with dynamic sizes.");
    }

    /**
     * Linear interpolation ×{@code factor} along z with half-pixel centres, edges held constant:
     * {@code fluorecon.tasks.isotropic.stretch} (same float32 arithmetic).
     *
     * @param planes {@code planes[z][i]}, {@code n} planes of equal length
     * @return {@code n·factor} new planes
     */
    public static float[][] stretch(float[][] planes, int factor) {
        int n = planes.length;
        int len = n == 0 ? 0 : planes[0].length;
        float[][] out = new float[n * factor][];
        for (int k = 0; k < n * factor; k++) {
            double pos = Math.min(Math.max((k + 0.5) / factor - 0.5, 0), n - 1);
            int i0 = (int) Math.floor(pos);
            int i1 = Math.min(i0 + 1, n - 1);
            float w = (float) (pos - i0);
            float wa = 1f - w;
            float[] a = planes[i0];
            float[] b = planes[i1];
            float[] o = new float[len];
            for (int i = 0; i < len; i++) {
                o[i] = a[i] * wa + b[i] * w;
            }
            out[k] = o;
        }
        return out;
    }

    @Override
    protected ImagePlus run(Progress progress) throws Exception {
        ModelCard card = model.card();
        int nC = dims[0];
        int nZ = dims[1];
        int nT = dims[2];
        int w = input.getWidth();
        int h = input.getHeight();
        int zs = nZ * zFactor;
        long perBlock = (long) h * planXZ.numTiles() + (long) w * planYZ.numTiles();
        long total = perBlock * nC * nT;
        long[] done = {0};
        Progress tick = new Progress() {
            @Override
            public void update(long d, long t) {
                progress.update(++done[0], total);
            }

            @Override
            public boolean isCancelled() {
                return progress.isCancelled();
            }
        };
        float[][] planes = new float[nC * zs * nT][];
        String[] labels = new String[planes.length];
        for (int t = 0; t < nT; t++) {
            for (int c = 0; c < nC; c++) {
                float[][] stack = ImageConversion.block(input, c, -1, t).data[0];
                checkOod(OodReport.label(dims, c, -1, t), stack, w);
                float[][] up = stretch(stack, zFactor);
                float[][] fused = restore(up, w, h, card, tick);
                for (int z = 0; z < zs; z++) {
                    int idx = ImageConversion.stackIndex(c, z, t, nC, zs);
                    planes[idx] = fused[z];
                    labels[idx] = "isotropic";
                }
            }
        }
        ImagePlus out = ImageConversion.toImagePlus(input.getShortTitle() + "-isotropic", planes, w, h, nC, zs, nT,
                input, new int[] {1, 1, zFactor}, labels);
        if (!input.getCalibration().scaled()) {
            out.getCalibration().pixelDepth = out.getCalibration().pixelWidth;  // uncalibrated: voxels now cubic
        }
        out.setProperty("Info", info());
        return out;
    }

    /** XZ view, YZ view, mean: {@code up[z][y*w + x]} → fused planes of the same layout. */
    private float[][] restore(float[][] up, int w, int h, ModelCard card, Progress tick) throws Exception {
        int zs = up.length;
        double low = card.normLow();
        double high = card.normHigh();
        String[] kinds = card.outputKinds();
        float[][] xz = new float[zs][w * h];
        for (int y = 0; y < h; y++) {
            float[] slice = new float[w * zs];  // (x, z): rows x, columns z
            for (int x = 0; x < w; x++) {
                for (int z = 0; z < zs; z++) {
                    slice[x * zs + z] = up[z][y * w + x];
                }
            }
            float[] r = predictSlice(slice, w, zs, planXZ, low, high, kinds, card.channelsOut, tick);
            for (int x = 0; x < w; x++) {
                for (int z = 0; z < zs; z++) {
                    xz[z][y * w + x] = r[x * zs + z];
                }
            }
        }
        for (int x = 0; x < w; x++) {
            float[] slice = new float[h * zs];  // (y, z)
            for (int y = 0; y < h; y++) {
                for (int z = 0; z < zs; z++) {
                    slice[y * zs + z] = up[z][y * w + x];
                }
            }
            float[] r = predictSlice(slice, h, zs, planYZ, low, high, kinds, card.channelsOut, tick);
            for (int y = 0; y < h; y++) {
                for (int z = 0; z < zs; z++) {
                    int i = y * w + x;
                    xz[z][i] = 0.5f * (xz[z][i] + r[y * zs + z]);
                }
            }
        }
        return xz;
    }

    private float[] predictSlice(float[] slice, int rows, int cols, Tiling.Plan plan, double low, double high,
                                 String[] kinds, int channelsOut, Progress tick) throws Exception {
        double[] range = Normalizer.percentileRange(slice, low, high);
        Block out = TiledInference.predict(model, Block.ofPlane(slice, rows, cols), plan, new double[] {range[0]},
                new double[] {range[1]}, kinds, channelsOut, tick);
        return out.data[0][0];
    }

    /** Provenance for the output's Info: model, sha256, version, settings, the provider that ran. */
    public String info() {
        ModelCard card = model.card();
        StringBuilder sb = infoHeader(COMMAND);
        appendModel(sb);
        sb.append("model.task = ").append(card.task).append('\n');
        sb.append("model.method = ").append(card.method).append('\n');
        sb.append("model.z_factor = ").append(zFactor).append('\n');
        sb.append("settings.views = XZ,YZ (mean)\n");
        sb.append("settings.stretch = linear x").append(zFactor).append(" along z, half-pixel centres\n");
        sb.append("settings.tile_xz = ").append(ModelCard.join(planXZ.tile)).append('\n');
        sb.append("settings.tile_yz = ").append(ModelCard.join(planYZ.tile)).append('\n');
        appendThreads(sb);
        sb.append("settings.use_gpu = ").append(useGpu).append('\n');
        sb.append("settings.norm = ").append(card.norm).append(" per XZ/YZ slice\n");
        appendExecution(sb);
        appendDimensions(sb, dims);
        return sb.toString();
    }

    public int getZFactor() {
        return zFactor;
    }
}
