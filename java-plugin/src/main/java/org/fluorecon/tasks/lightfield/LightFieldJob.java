package org.fluorecon.tasks.lightfield;

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
import org.fluorecon.core.Progress;
import org.fluorecon.core.TiledInference;
import org.fluorecon.core.Tiling;

/**
 * Learned light-field reconstruction in ONNX Runtime, TrackMate style ({@link #checkInput()},
 * {@link #process(Progress)}, {@link #getErrorMessage()}): the rectified light field is
 * normalized with its own percentiles (the card's {@code norm}), split into its
 * {@code nnum × nnum} sub-aperture views ({@link LightFieldViews}), tiled over the lenslet grid and
 * run; the z channels become a z-stack on the light field's lateral grid, calibrated from the card
 * ({@code train.voxel_size_um}, {@code train.z_step_um}, {@code train.z_min_um} as the z origin).
 * Mirrors {@code fluorecon.tasks.lightfield_learned.predict_learned}.
 */
public final class LightFieldJob extends LocalModelJob<ImagePlus> {
    public static final String TASK = "lightfield";

    private final int tile;
    private final LensletGrid grid;

    private Tiling.Plan plan;
    private int nnum;
    private int zPlanes;
    private double zStepUm;
    private double zMinUm;
    private double voxelUm;

    /**
     * @param input     rectified light field, one 2D plane (8-, 16- or 32-bit)
     * @param modelFile a model whose card says {@code task = lightfield}
     * @param tile      tile side in lenslets; 0 = the card's default
     * @param threads   ONNX Runtime threads; 0 = automatic
     * @param useGpu    try the CUDA provider
     * @param opener    loads the model, e.g. {@code Predictor::open}
     * @param grid      calibration of a raw light field (rectified first), or null for a rectified one
     */
    public LightFieldJob(ImagePlus input, Path modelFile, int tile, int threads, boolean useGpu, Model.Opener opener,
                         LensletGrid grid) {
        super(input, modelFile, threads, useGpu, opener, "reconstruct", "Light-field reconstruction",
                "Out of memory while reconstructing '%s'; use a smaller tile or give ImageJ more memory (Edit › Options › Memory & Threads).");
        this.grid = grid;
        this.tile = tile;
    }

    @Override
    protected void check() {
        checkImage("open a rectified light field first.");
        if (input.getStackSize() != 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has " + input.getStackSize() + " planes; "
                    + "a light field is one 2D image (Image › Duplicate… one plane first).");
        }
        checkCounts(tile);
        ModelCard card = openModel("No model chosen; give model_file=/path/to/lightfield_vcd.onnx.");
        String name = modelName();
        if (!TASK.equals(card.task)) {
            throw wrongTask(card, "Light-field needs a model with task=lightfield.");
        }
        nnum = intKey(card, "nnum", name);
        zPlanes = intKey(card, "z_planes", name);
        zStepUm = doubleKey(card, "z_step_um", name);
        zMinUm = doubleKey(card, "z_min_um", name);
        voxelUm = doubleKey(card, "voxel_size_um", name);
        if (card.channelsIn != nnum * nnum || card.channelsOut != zPlanes || card.ndim() != 2) {
            throw new FluoreconException("Model '" + name + "' card is inconsistent: channels.in " + card.channelsIn
                    + " (expected nnum² = " + nnum * nnum + "), channels.out " + card.channelsOut + " (expected "
                    + zPlanes + " z planes); re-export it.");
        }
        int w = input.getWidth();
        int h = input.getHeight();
        if (grid != null) {
            if (grid.nnum != nnum) {
                throw new FluoreconException("The calibration rectifies to nnum = " + grid.nnum + " pixels per lenslet "
                        + "but model '" + name + "' needs nnum = " + nnum + "; calibrate again with nnum = " + nnum + ".");
            }
            if (grid.imageWidth != w || grid.imageHeight != h) {
                throw new FluoreconException("Image '" + input.getTitle() + "' is " + w + "x" + h + " pixels but the "
                        + "calibration is for " + grid.imageWidth + "x" + grid.imageHeight + " images; calibrate with "
                        + "a white image from the same camera settings.");
            }
            w = grid.rectifiedWidth();
            h = grid.rectifiedHeight();
        }
        LightFieldViews.checkShape(w, h, nnum);
        int[] shape = {h / nnum, w / nnum};
        int[] request = card.tileDefault.clone();
        if (tile > 0) {
            Tiling.checkRequestedTile(tile, card.tileHalo[0], card.tileMultiple[0]);
            Tiling.checkRequestedTile(tile, card.tileHalo[1], card.tileMultiple[1]);
            request[0] = tile;
            request[1] = tile;
        }
        plan = Tiling.plan(shape, request, card.tileHalo, card.tileMultiple, card.scale);
    }

    private static int intKey(ModelCard card, String key, String name) {
        return (int) Math.round(doubleKey(card, key, name));
    }

    private static double doubleKey(ModelCard card, String key, String name) {
        String v = card.train.get(key);
        if (v == null) {
            throw new FluoreconException("Model '" + name + "' card lacks train." + key + "; re-export it with "
                    + "`fluorecon lightfield-learned train`.");
        }
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new FluoreconException("Model '" + name + "' card has train." + key + " = '" + v + "', not a number.");
        }
    }

    @Override
    protected ImagePlus run(Progress progress) throws Exception {
        ModelCard card = model.card();
        int w = input.getWidth();
        int h = input.getHeight();
        float[] lf = ImageConversion.toFloat(input, 1);
        if (grid != null) {
            lf = grid.rectify(lf, w, h);
            w = grid.rectifiedWidth();
            h = grid.rectifiedHeight();
        }
        checkOod("light field", new float[][] {lf}, w, Double.NaN); // rectified: the camera pixel is not the card's
        double[] range = Normalizer.percentileRange(lf, card.normLow(), card.normHigh());
        Block views = LightFieldViews.block(lf, w, h, nnum);
        double[] lo = new double[views.channels];
        double[] hi = new double[views.channels];
        java.util.Arrays.fill(lo, range[0]);
        java.util.Arrays.fill(hi, range[1]);
        Block out = TiledInference.predict(model, views, plan, lo, hi, card.outputKinds(), zPlanes, progress);
        float[][] planes = new float[zPlanes][];
        String[] labels = new String[zPlanes];
        for (int z = 0; z < zPlanes; z++) {
            planes[z] = out.data[z][0];
            labels[z] = String.format(Locale.ROOT, "z=%.3f um", zMinUm + z * zStepUm);
        }
        ImagePlus vol = ImageConversion.toImagePlus(input.getShortTitle() + "-volume", planes, w, h, 1, zPlanes, 1,
                null, new int[] {1, 1, 1}, labels);
        vol.setCalibration(volumeCalibration(zMinUm, zStepUm, voxelUm));
        vol.setProperty("Info", info());
        return vol;
    }

    /** Calibration of a reconstructed volume: µm voxels, z origin so that slice 1 sits at {@code zMinUm}. */
    public static Calibration volumeCalibration(double zMinUm, double zStepUm, double voxelUm) {
        Calibration cal = new Calibration();
        cal.setUnit("micron");
        cal.pixelWidth = voxelUm;
        cal.pixelHeight = voxelUm;
        cal.pixelDepth = zStepUm;
        cal.zOrigin = -zMinUm / zStepUm;
        return cal;
    }

    /** Provenance for the output's Info. */
    public String info() {
        ModelCard card = model.card();
        StringBuilder sb = infoHeader("Light-field");
        sb.append("lightfield.method = learned\n");
        appendModel(sb);
        sb.append("model.method = ").append(card.method).append('\n');
        sb.append(String.format(Locale.ROOT, "lightfield.nnum = %d%nlightfield.z_planes = %d%n"
                + "lightfield.z_min_um = %s%nlightfield.z_step_um = %s%nlightfield.voxel_size_um = %s%n", nnum, zPlanes,
                zMinUm, zStepUm, voxelUm));
        sb.append("settings.calibration = ").append(grid == null ? "none (input already rectified)"
                : String.format(Locale.ROOT, "pitch %.4f px, rotation %.4f deg, %dx%d lenslets", grid.pitchPx,
                grid.rotationDeg, grid.rows, grid.columns)).append('\n');
        sb.append("settings.tile_lenslets = ").append(ModelCard.join(plan.tile)).append('\n');
        sb.append("settings.halo_lenslets = ").append(ModelCard.join(plan.halo)).append('\n');
        appendThreads(sb);
        sb.append("settings.norm = ").append(card.norm).append(" over the whole light field\n");
        appendExecution(sb);
        return sb.toString();
    }

    public Tiling.Plan getPlan() {
        return plan;
    }
}
