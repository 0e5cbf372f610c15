package org.fluorecon.tasks.localize;

import ij.ImagePlus;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.core.LocalModelJob;
import org.fluorecon.core.Model;
import org.fluorecon.core.ModelCard;
import org.fluorecon.core.OodCheck;
import org.fluorecon.core.Progress;
import org.fluorecon.core.Sampling;
import org.fluorecon.server.JobSpec;

/**
 * Single-molecule localisation with a Deep-STORM or DECODE-style ONNX model, TrackMate style
 * ({@link #checkInput()}, {@link #process(Progress)}, {@link #getErrorMessage()}), the exact
 * pipeline of {@code fluorecon.tasks.localize}: ADU → photons → photons / S (card
 * {@code norm = photons:S}) → network on batches of frames (reflect-padded to the tile multiple,
 * cropped back) → peaks → a table in nm, sorted by frame then row-major, and a Gaussian rendering.
 */
public final class LocalizeJob extends LocalModelJob<Localizations> {
    public static final String TASK = "localize";
    static final float CONFIDENT_P = 0.6f;
    static final float DECODE_MIN_P = 0.05f;

    /** Camera and detection settings ({@code LocalizeConfig} in Python). */
    public static final class Settings {
        public double cameraOffset = 100;
        /** ADU per electron (after EM gain). */
        public double gain = 1;
        /** EMCCD multiplication gain; 1 for sCMOS/CCD. */
        public double emGain = 1;
        public double qe = 1;
        /** Detection threshold; NaN or ≤ 0 takes the card's {@code train.threshold}. */
        public double threshold = Double.NaN;
        public double renderPixelNm = 10;
        /** Camera pixel size; NaN takes the image calibration, else 100 nm. */
        public double pixelNm = Double.NaN;
        public int batchFrames = 16;
        public int threads;
        public boolean useGpu;
        /** PSF width σ, nm (the MLE fit's start and detection scale; networks ignore it). */
        public double sigmaNm = JobSpec.of("localize").number("sigma_nm");
        /** Camera read noise, electrons (the MLE fit's noise model; networks ignore it). */
        public double readNoiseE = JobSpec.of("localize").number("read_noise_e");
    }

    private final Settings settings;

    private String method;
    private double photonScale;
    private double threshold;
    private double pixelNm;
    private String pixelSource;
    private int nFrames;
    private Localizations table;
    private ImagePlus rendering;
    private double seconds;

    public LocalizeJob(ImagePlus input, Path modelFile, Settings settings, Model.Opener opener) {
        super(input, modelFile, settings.threads, settings.useGpu, opener, "localize", "Localize",
                "Out of memory while localizing '%s'; use batch=4 or give ImageJ more memory (Edit › Options › Memory "
                        + "& Threads).");
        this.settings = settings;
    }

    @Override
    protected void check() {
        checkImage("open an SMLM time stack first.");
        nFrames = frames(input);
        checkSettings(settings);
        String[] source = new String[1];
        pixelNm = cameraPixelNm(input, settings, source);
        pixelSource = source[0];
        if (Double.isNaN(pixelNm)) {
            pixelNm = 100;
            pixelSource = "default (the image has no pixel size; set it in Image › Properties…)";
        }
        ModelCard card = openModel("No model chosen; pick deepstorm_2d or decode_2d, or give "
                + "model_file=/path/to/model.onnx.");
        String name = modelName();
        if (!TASK.equals(card.task) || !("deepstorm".equals(card.method) || "decode".equals(card.method))) {
            throw new FluoreconException("Model '" + name + "' is a '" + card.task + "/" + card.method + "' model; "
                    + "Localize (SMLM) needs a localize/deepstorm or localize/decode model.");
        }
        if (!card.isPhotonNorm()) {
            throw new FluoreconException("Model '" + name + "' normalizes with '" + card.norm + "'; localisation "
                    + "models use 'photons:<scale>'. Pick a model trained by fluorecon for the localize task.");
        }
        method = card.method;
        int channelsIn = "deepstorm".equals(method) ? 1 : 3;
        int channelsOut = "deepstorm".equals(method) ? 1 : 10;
        if (card.channelsIn != channelsIn || card.channelsOut != channelsOut || card.ndim() != 2) {
            throw new FluoreconException("Model '" + name + "' has " + card.channelsIn + " input / " + card.channelsOut
                    + " output channels (axes " + card.axesIn + "); a 2D " + method + " model has " + channelsIn
                    + " / " + channelsOut + ".");
        }
        photonScale = card.photonScale();
        if (settings.threshold > 0) {
            threshold = settings.threshold;
        } else {
            String t = card.train.get("threshold");
            try {
                threshold = t == null ? ("decode".equals(method) ? 0.5 : 5.0) : Double.parseDouble(t.trim());
            } catch (NumberFormatException e) {
                throw new FluoreconException("Model '" + name + "' has train.threshold = '" + t + "', not a number; "
                        + "give threshold= explicitly.");
            }
        }
        int m = card.tileMultiple[0];
        if (input.getHeight() < 2 || input.getWidth() < 2 || (long) input.getWidth() * input.getHeight() * m * m
                * card.scale[0] * card.scale[0] > Integer.MAX_VALUE / 4) {
            throw new FluoreconException("Image '" + input.getTitle() + "' is " + input.getWidth() + "x"
                    + input.getHeight() + " pixels; localisation needs frames of at least 2x2 pixels and below "
                    + "about 4000x4000.");
        }
    }

    /** Frames of an SMLM stack (its z-slices or its time points); refuses channels, and both z and t. */
    static int frames(ImagePlus input) {
        int[] d = ImageConversion.dimensions(input);
        if (d[0] > 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has " + d[0] + " channels; localisation "
                    + "takes one time series. Split the channels (Image › Color › Split Channels) first.");
        }
        if (d[1] > 1 && d[2] > 1) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has both z-slices (" + d[1] + ") and frames ("
                    + d[2] + "); localisation takes one time series. Reduce it to one axis (Image › Hyperstacks › "
                    + "Reduce Dimensionality…) first.");
        }
        return Math.max(d[1], d[2]);
    }

    /**
     * The camera pixel size in nm: {@code settings.pixelNm} when positive, else the image calibration, else NaN;
     * {@code source[0]} says which ("given", "image calibration").
     */
    static double cameraPixelNm(ImagePlus input, Settings settings, String[] source) {
        if (settings.pixelNm > 0) {
            source[0] = "given";
            return settings.pixelNm;
        }
        source[0] = "image calibration";
        return Sampling.pixelNm(input);
    }

    /** The camera, rendering and batch settings every method shares, or a {@link FluoreconException}. */
    static void checkSettings(Settings settings) {
        double gain = settings.gain * settings.emGain * settings.qe;
        if (!(settings.gain > 0) || !(settings.emGain >= 1) || !(settings.qe > 0 && settings.qe <= 1)) {
            throw new FluoreconException("Camera settings camera_gain = " + settings.gain + ", em_gain = " + settings.emGain
                    + ", qe = " + settings.qe + " are out of range; use camera_gain > 0 (ADU per electron), em_gain ≥ 1 "
                    + "(1 without EM gain) and 0 < qe ≤ 1.");
        }
        if (!Double.isFinite(settings.cameraOffset) || !Double.isFinite(gain)) {
            throw new FluoreconException("camera_offset = " + settings.cameraOffset + " is not a number.");
        }
        if (!(settings.renderPixelNm > 0)) {
            throw new FluoreconException("render_pixel_nm = " + settings.renderPixelNm + " must be positive, e.g. 10.");
        }
        if (settings.batchFrames < 1) {
            throw new FluoreconException("batch = " + settings.batchFrames + " must be at least 1 frame.");
        }
    }

    /** Runs the model on every frame, then renders the table (the rendering's Info counts it). */
    @Override
    protected Localizations run(Progress progress) throws Exception {
        table = null;
        rendering = null;
        long t0 = System.nanoTime();
        // The card's statistics describe single camera frames (ADU); a sample of frames stands for the movie.
        for (int k = 0, n = Math.min(nFrames, OodCheck.MAX_PLANES); k < n; k++) {
            int f = n == 1 ? 0 : (int) Math.rint(k * (nFrames - 1) / (double) (n - 1));
            checkOod(nFrames > 1 ? "frame " + (f + 1) : "image", new float[][] {ImageConversion.toFloat(input, f + 1)},
                    input.getWidth(), pixelNm);
        }
        table = localize(progress);
        rendering = SmlmRender.image(table, input, pixelNm, settings.renderPixelNm);
        rendering.setProperty("Info", info());
        seconds = (System.nanoTime() - t0) / 1e9;
        return table;
    }

    private Localizations localize(Progress progress) throws Exception {
        ModelCard card = model.card();
        int ny = input.getHeight();
        int nx = input.getWidth();
        int m = card.tileMultiple[0];
        int py = Math.floorMod(-ny, m);
        int px = Math.floorMod(-nx, m);
        int yp = ny + py;
        int xp = nx + px;
        boolean reflect = Math.min(ny, nx) > Math.max(py, px); // else NumPy's reflect would need repeats
        int[] rowMap = padMap(ny, yp, reflect);
        int[] colMap = padMap(nx, xp, reflect);
        int s = card.scale[0];
        int cIn = card.channelsIn;
        int cOut = card.channelsOut;
        float adcScale = (float) (settings.gain * settings.emGain * settings.qe);
        float offset = (float) settings.cameraOffset;
        float inScale = (float) photonScale;
        boolean deepstorm = "deepstorm".equals(method);
        float thr = (float) threshold; // NumPy compares float32 data with a Python float in float32
        Localizations out = new Localizations();
        int batch = settings.batchFrames;
        float[][] photons = new float[nFrames][];
        for (int start = 0; start < nFrames; start += batch) {
            if (progress.isCancelled()) {
                throw new CancellationException();
            }
            int stop = Math.min(start + batch, nFrames);
            int b = stop - start;
            FloatBuffer in = ByteBuffer.allocateDirect(b * cIn * yp * xp * Float.BYTES).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            for (int f = start; f < stop; f++) {
                for (int k = 0; k < cIn; k++) {
                    int src = deepstorm ? f : Math.min(Math.max(f - 1 + k, 0), nFrames - 1);
                    float[] x = scaled(photons, src, offset, adcScale, inScale);
                    for (int r = 0; r < yp; r++) {
                        int row = rowMap[r] * nx;
                        for (int c = 0; c < xp; c++) {
                            in.put(x[row + colMap[c]]);
                        }
                    }
                }
                if (f >= 1 && !deepstorm) {
                    photons[f - 1] = null; // the previous frame is needed by no later input
                } else if (deepstorm) {
                    photons[f] = null;
                }
            }
            in.rewind();
            FloatBuffer o = model.run(in, new long[] {b, cIn, yp, xp});
            int oh = yp * s;
            int ow = xp * s;
            float[][] channels = new float[cOut][];
            for (int f = 0; f < b; f++) {
                for (int k = 0; k < cOut; k++) {
                    o.position((f * cOut + k) * oh * ow);
                    float[] full = new float[oh * ow];
                    o.get(full);
                    channels[k] = crop(full, ow, ny * s, nx * s);
                }
                if (deepstorm) {
                    deepstormPeaks(channels[0], ny * s, nx * s, pixelNm / s, thr, start + f, centroidHalfWidth(s), out);
                } else {
                    decodePeaks(channels, ny, nx, pixelNm, thr, start + f, out);
                }
            }
            progress.update(stop, nFrames);
        }
        return out;
    }

    /** Frame {@code f} as network input: ((ADU − offset) / (gain·EM·QE)) / S, in float32 as NumPy computes it. */
    private float[] scaled(float[][] cache, int f, float offset, float adcScale, float inScale) {
        if (cache[f] == null) {
            float[] adu = ImageConversion.toFloat(input, f + 1);
            float[] x = new float[adu.length];
            for (int i = 0; i < x.length; i++) {
                x[i] = ((adu[i] - offset) / adcScale) / inScale;
            }
            cache[f] = x;
        }
        return cache[f];
    }

    /** Index map of NumPy's pad at the end: reflect (no edge repeat) or edge. */
    static int[] padMap(int n, int padded, boolean reflect) {
        int[] map = new int[padded];
        for (int i = 0; i < padded; i++) {
            if (i < n) {
                map[i] = i;
            } else if (reflect) {
                map[i] = 2 * (n - 1) - i;
            } else {
                map[i] = n - 1;
            }
        }
        return map;
    }

    private static float[] crop(float[] full, int fullWidth, int h, int w) {
        if (fullWidth == w && full.length == h * w) {
            return full;
        }
        float[] out = new float[h * w];
        for (int r = 0; r < h; r++) {
            System.arraycopy(full, r * fullWidth, out, r * w, w);
        }
        return out;
    }

    /**
     * Deep-STORM: fine pixels equal to the maximum of their 5×5 neighbourhood (indices clamped)
     * and above the threshold; position = pixel centre + centroid of the clipped (2·half+1)² neighbourhood
     * (indices clamped); half = {@link #centroidHalfWidth(int)} (fluorecon.tasks.localize.learned.centroid_half_width).
     */
    static void deepstormPeaks(float[] d, int h, int w, double fineNm, float thr, int frame, Localizations out) {
        deepstormPeaks(d, h, w, fineNm, thr, frame, 1, out);
    }

    /** Half-width (fine pixels) of the Deep-STORM centroid window: 0.75 camera pixel, at least 1. */
    static int centroidHalfWidth(int scale) {
        return Math.max(1, (int) Math.rint(0.75 * scale));
    }

    static void deepstormPeaks(float[] d, int h, int w, double fineNm, float thr, int frame, int half,
                               Localizations out) {
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                float v = d[r * w + c];
                if (!(v > thr) || !isMax(d, h, w, r, c, 2, true)) {
                    continue;
                }
                double sum = 0;
                double sx = 0;
                double sy = 0;
                for (int dr = -half; dr <= half; dr++) {
                    int rr = Math.min(Math.max(r + dr, 0), h - 1);
                    for (int dc = -half; dc <= half; dc++) {
                        int cc = Math.min(Math.max(c + dc, 0), w - 1);
                        double wgt = Math.max(d[rr * w + cc], 0f);
                        sum += wgt;
                        sx += wgt * dc;
                        sy += wgt * dr;
                    }
                }
                double total = sum + 1e-12;
                out.add(frame, (c + 0.5 + sx / total) * fineNm, (r + 0.5 + sy / total) * fineNm, 0, Double.NaN,
                        Double.NaN, Double.NaN, Double.NaN, Double.NaN);
            }
        }
    }

    /**
     * DECODE-style: p equal to its 3×3 maximum (zero outside) and above 0.05, kept when the 3×3
     * sum of p exceeds the threshold, plus every pixel with p above 0.6.
     */
    static void decodePeaks(float[][] ch, int h, int w, double pixelNm, float thr, int frame, Localizations out) {
        float[] p = ch[0];
        float[] agg = boxSum3(p, h, w);
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                int i = r * w + c;
                float v = p[i];
                boolean local = v > DECODE_MIN_P && isMax(p, h, w, r, c, 1, false);
                if (!((local && agg[i] > thr) || v > CONFIDENT_P)) {
                    continue;
                }
                float sxp = ch[5][i];
                float syp = ch[6][i];
                // float32 throughout, as NumPy evaluates sqrt((sx**2 + sy**2) / 2) * pixel on float32 columns
                float unc = (float) Math.sqrt((sxp * sxp + syp * syp) / 2f) * (float) pixelNm;
                float bg = ch[9][i];
                out.add(frame, (c + 0.5 + ch[1][i]) * pixelNm, (r + 0.5 + ch[2][i]) * pixelNm, ch[3][i], ch[4][i], bg,
                        (float) Math.sqrt(Math.max(bg, 0f)), Double.NaN, unc);
            }
        }
    }

    private static boolean isMax(float[] d, int h, int w, int r, int c, int radius, boolean clamp) {
        float v = d[r * w + c];
        for (int dr = -radius; dr <= radius; dr++) {
            for (int dc = -radius; dc <= radius; dc++) {
                int rr = r + dr;
                int cc = c + dc;
                float u;
                if (rr < 0 || rr >= h || cc < 0 || cc >= w) {
                    if (!clamp) {
                        u = 0f;
                    } else {
                        u = d[Math.min(Math.max(rr, 0), h - 1) * w + Math.min(Math.max(cc, 0), w - 1)];
                    }
                } else {
                    u = d[rr * w + cc];
                }
                if (u > v) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * 9 × {@code scipy.ndimage.uniform_filter(p, 3, mode="constant")} in float32, with SciPy's
     * running-mean arithmetic (double accumulator, float32 after each axis), so thresholds cut
     * exactly where Python's do.
     */
    static float[] boxSum3(float[] p, int h, int w) {
        float[] tmp = new float[p.length];
        double[] line = new double[Math.max(h, w) + 2];
        for (int c = 0; c < w; c++) { // axis 0 (y) first, as SciPy loops over axes in order
            line[0] = 0;
            for (int r = 0; r < h; r++) {
                line[r + 1] = p[r * w + c];
            }
            line[h + 1] = 0;
            runningMean(line, h, tmp, c, w);
        }
        float[] out = new float[p.length];
        for (int r = 0; r < h; r++) {
            line[0] = 0;
            for (int c = 0; c < w; c++) {
                line[c + 1] = tmp[r * w + c];
            }
            line[w + 1] = 0;
            runningMean(line, w, out, r * w, 1);
        }
        for (int i = 0; i < out.length; i++) {
            out[i] = out[i] * 9f;
        }
        return out;
    }

    private static void runningMean(double[] line, int n, float[] dst, int offset, int stride) {
        double acc = (line[0] + line[1] + line[2]) / 3.0;
        dst[offset] = (float) acc;
        for (int k = 1; k < n; k++) {
            acc += (line[k + 2] - line[k - 1]) / 3.0;
            dst[offset + k * stride] = (float) acc;
        }
    }

    /** The rendering carries the OOD verdict (Info, title): the table is not an image. */
    @Override
    protected ImagePlus markedImage(Localizations result) {
        return rendering;
    }

    /** Provenance for the rendering's Info. */
    public String info() {
        ModelCard card = model.card();
        StringBuilder sb = infoHeader("Localize (SMLM)");
        appendModel(sb);
        sb.append("model.method = ").append(card.method).append('\n');
        sb.append("settings.camera_offset = ").append(settings.cameraOffset).append('\n');
        sb.append("settings.camera_gain = ").append(settings.gain).append('\n');
        sb.append("settings.em_gain = ").append(settings.emGain).append('\n');
        sb.append("settings.qe = ").append(settings.qe).append('\n');
        sb.append("settings.threshold = ").append(threshold).append(settings.threshold > 0 ? "" : " (model card)")
                .append('\n');
        sb.append("settings.pixel_nm = ").append(pixelNm).append(" (").append(pixelSource).append(")\n");
        sb.append("settings.render_pixel_nm = ").append(settings.renderPixelNm).append('\n');
        sb.append("execution.provider = ").append(model.provider()).append('\n');
        if (table != null) {
            sb.append("localizations = ").append(table.size()).append('\n');
        }
        sb.append(String.format(Locale.ROOT, "input.title = %s%ninput.frames = %d%n", input.getTitle(), nFrames));
        return sb.toString();
    }

    /** The localisations after a successful {@link #process}. */
    public Localizations getTable() {
        return getResult();
    }

    /** The Gaussian rendering (calibrated to the render pixel size). */
    public ImagePlus getRendering() {
        return rendering;
    }

    public int frames() {
        return nFrames;
    }

    public double pixelNm() {
        return pixelNm;
    }

    public double threshold() {
        return threshold;
    }

    /** Wall time of the last {@link #process}, s. */
    public double seconds() {
        return seconds;
    }
}
