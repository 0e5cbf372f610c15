import ij.ImagePlus;
import ij.ImageStack;
import ij.io.FileSaver;
import ij.io.Opener;
import ij.process.FloatProcessor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.fairsim.linalg.Vec2d;
import org.fairsim.sim_algorithm.OtfProvider;
import org.fairsim.sim_algorithm.SimAlgorithm;
import org.fairsim.sim_algorithm.SimParam;
import org.fairsim.sim_algorithm.SimUtils;
import org.fairsim.utils.Tool;

/**
 * fluorecon's headless driver for fairSIM's library API (bench/sim.py): reads a raw 2D SIM stack
 * (angle-major, phase-minor, square frames), reconstructs it with fairSIM's generalised Wiener
 * filter, writes the result as a 32-bit TIFF and prints one JSON line with the timings and the
 * pattern parameters used. Follows fairSIM's scripts/ImageJ-reconstruction.bsh.
 *
 * <pre>
 * java -cp fairsim-classes:ij.jar:JTransforms.jar:JLargeArrays.jar:commons-math3.jar:. FairSimDriver \
 *   raw=raw.tif out=res.tif angles=3 phases=3 pixel_um=0.08 na=1.4 lambda=520 otf_a=0.3 background=100 \
 *   wiener=0.05 apo_cutoff=2 apo_bend=0.9 mode=given|estimate given="px,py,pha,mod;..." repeats=3
 * </pre>
 *
 * {@code given}: per angle the band-1 shift (px, py) in cycles per image, the phase offset (rad)
 * and the modulation; with {@code mode=given} no parameter is estimated (fair timing of the
 * reconstruction alone). Timings are wall-clock seconds of {@code System.nanoTime}: "prepare"
 * (background, border fade, FFT of every frame), "estimate" (fairSIM's parameter fit),
 * "reconstruct" (band separation, shift, Wiener filter, inverse FFT); each is the fastest of
 * {@code repeats} runs after one warm-up.
 */
public final class FairSimDriver {

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new LinkedHashMap<>();
        for (String a : args) {
            int eq = a.indexOf('=');
            o.put(a.substring(0, eq), a.substring(eq + 1));
        }
        final boolean verbose = o.containsKey("verbose");
        Tool.setLogger(new Tool.Logger() {
            public void writeTrace(String w) {
                if (verbose) {
                    System.err.println("fairSIM: " + w);
                }
            }

            public void writeError(String e, boolean fatal) {
                System.err.println("fairSIM ERROR: " + e);
            }

            public void writeShortMessage(String s) {
            }
        });
        int nA = Integer.parseInt(o.getOrDefault("angles", "3"));
        int nP = Integer.parseInt(o.getOrDefault("phases", "3"));
        double pixelUm = Double.parseDouble(o.get("pixel_um"));
        double na = Double.parseDouble(o.getOrDefault("na", "1.4"));
        double lambda = Double.parseDouble(o.getOrDefault("lambda", "520"));
        double otfA = Double.parseDouble(o.getOrDefault("otf_a", "0.3"));
        double background = Double.parseDouble(o.getOrDefault("background", "0"));
        double wiener = Double.parseDouble(o.getOrDefault("wiener", "0.05"));
        double apoCutoff = Double.parseDouble(o.getOrDefault("apo_cutoff", "2.0"));
        double apoBend = Double.parseDouble(o.getOrDefault("apo_bend", "0.9"));
        int fade = Integer.parseInt(o.getOrDefault("fade", "15"));
        String mode = o.getOrDefault("mode", "estimate");
        int repeats = Integer.parseInt(o.getOrDefault("repeats", "3"));

        ImagePlus imp = new Opener().openImage(o.get("raw"));
        if (imp == null) {
            throw new IllegalArgumentException("cannot open " + o.get("raw"));
        }
        ImageStack st = imp.getStack();
        int size = imp.getWidth();
        if (imp.getHeight() != size || st.getSize() != nA * nP) {
            throw new IllegalArgumentException("need " + (nA * nP) + " square frames, got " + imp.getWidth() + "x"
                    + imp.getHeight() + "x" + st.getSize());
        }
        int nBands = (nP + 1) / 2;

        double[] tPrepare = new double[repeats];
        double[] tEstimate = new double[repeats];
        double[] tRecon = new double[repeats];
        Vec2d.Real result = null;
        SimParam param = null;
        for (int r = -1; r < repeats; r++) { // r = -1: warm-up (JIT, FFT plans)
            long t0 = System.nanoTime();
            Vec2d.Cplx[][] raw = new Vec2d.Cplx[nA][nP];
            for (int a = 0; a < nA; a++) {
                for (int p = 0; p < nP; p++) {
                    float[] px = (float[]) st.getProcessor(a * nP + p + 1).convertToFloatProcessor().getPixels();
                    Vec2d.Real re = Vec2d.createReal(size, size);
                    System.arraycopy(px, 0, re.vectorData(), 0, px.length);
                    re.syncBuffer();
                    raw[a][p] = Vec2d.createCplx(size, size);
                    raw[a][p].copy(re);
                    SimUtils.subtractBackground(raw[a][p], background);
                    SimUtils.fadeBorderCos(raw[a][p], fade);
                    raw[a][p].fft2d(false);
                }
            }
            long t1 = System.nanoTime();
            OtfProvider otf = OtfProvider.fromEstimate(na, lambda, otfA);
            param = SimParam.create(nBands, nA, nP, size, pixelUm, otf);
            if ("given".equals(mode)) {
                String[] dirs = o.get("given").split(";");
                for (int a = 0; a < nA; a++) {
                    String[] v = dirs[a].split(",");
                    param.dir(a).setPxPy(Double.parseDouble(v[0]), Double.parseDouble(v[1]));
                    param.dir(a).setPhaOff(Double.parseDouble(v[2]));
                    param.dir(a).setModulation(1, Double.parseDouble(v[3]));
                }
            } else {
                SimAlgorithm.estimateParameters(param, raw, nBands - 1, 0.6, null, -1, null);
            }
            long t2 = System.nanoTime();
            param.setWienerFilter(wiener);
            param.setApoCutoff(apoCutoff);
            param.setApoBend(apoBend);
            otf.switchAttenuation(false);
            result = SimAlgorithm.runReconstruction(param, raw, null, -1, false, SimParam.CLIPSCALE.NONE, null);
            long t3 = System.nanoTime();
            if (r >= 0) {
                tPrepare[r] = (t1 - t0) * 1e-9;
                tEstimate[r] = (t2 - t1) * 1e-9;
                tRecon[r] = (t3 - t2) * 1e-9;
            }
        }
        int w = result.vectorWidth();
        int h = result.vectorHeight();
        FloatProcessor fp = new FloatProcessor(w, h, result.vectorData().clone());
        ImagePlus out = new ImagePlus("fairSIM", fp);
        out.getCalibration().setUnit("micron");
        out.getCalibration().pixelWidth = pixelUm / 2;
        out.getCalibration().pixelHeight = pixelUm / 2;
        if (!new FileSaver(out).saveAsTiff(o.get("out"))) {
            throw new IllegalStateException("cannot write " + o.get("out"));
        }
        List<String> dirs = new ArrayList<>();
        for (int a = 0; a < nA; a++) {
            SimParam.Dir d = param.dir(a);
            dirs.add(String.format(Locale.ROOT, "{\"px\": %.5f, \"py\": %.5f, \"pha\": %.5f, \"mod\": %.4f}",
                    d.px(nBands - 1), d.py(nBands - 1), d.getPhaOff(), d.getModulations()[1]));
        }
        System.out.println(String.format(Locale.ROOT,
                "{\"mode\": \"%s\", \"size\": %d, \"repeats\": %d, \"prepare_s\": %s, \"estimate_s\": %s, "
                        + "\"reconstruct_s\": %s, \"threads\": %d, \"params\": [%s]}",
                mode, size, repeats, list(tPrepare), list(tEstimate), list(tRecon),
                Runtime.getRuntime().availableProcessors(), String.join(", ", dirs)));
        org.fairsim.utils.SimpleMT.shutdown();
        // JTransforms' worker pool is not daemon: without an explicit exit the JVM idles ~60 s after the
        // result line, which cost a minute per call once the bench called it once per round.
        System.out.flush();
        System.exit(0);
    }

    private static String list(double[] v) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) {
            sb.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.6f", v[i]));
        }
        return sb.append(']').toString();
    }
}
