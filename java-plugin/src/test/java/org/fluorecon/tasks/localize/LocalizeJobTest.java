package org.fluorecon.tasks.localize;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.FloatProcessor;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.Model;
import org.fluorecon.core.ModelCard;
import org.fluorecon.core.Progress;
import org.fluorecon.core.TileModel;
import org.fluorecon.testutil.FakeModel;
import org.junit.jupiter.api.Test;

/** Peak extraction and the Localize pipeline with plain-Java stand-ins for the networks. */
public class LocalizeJobTest {

    public static Map<String, String> card(String method, int cin, int cout, int scale) {
        Map<String, String> m = new HashMap<>();
        m.put("fluorecon.format", "1");
        m.put("task", "localize");
        m.put("method", method);
        m.put("name", method + "_test");
        m.put("axes.in", "bcyx");
        m.put("axes.out", "bcyx");
        m.put("channels.in", Integer.toString(cin));
        m.put("channels.out", Integer.toString(cout));
        m.put("tile.multiple", "4,4");
        m.put("tile.halo", "0,0");
        m.put("tile.default", "64,64");
        m.put("scale", scale + "," + scale);
        m.put("norm", "photons:100");
        m.put("outputs", "mean");
        m.put("train.threshold", "0.5");
        return m;
    }

    /** A Model over a function of (input, shape) → output. */
    static Model fake(Map<String, String> meta, TileModel f, List<long[]> shapes) {
        return new FakeModel(ModelCard.fromMetadata(meta), "fake.onnx") {
            @Override
            public FloatBuffer run(FloatBuffer input, long[] shape) throws Exception {
                shapes.add(shape.clone());
                return f.run(input, shape);
            }
        };
    }

    static ImagePlus frames(int n, int h, int w, float value) {
        ImageStack st = new ImageStack(w, h);
        for (int i = 0; i < n; i++) {
            float[] px = new float[h * w];
            java.util.Arrays.fill(px, value);
            st.addSlice(new FloatProcessor(w, h, px));
        }
        ImagePlus imp = new ImagePlus("smlm", st);
        imp.setDimensions(1, 1, n);
        imp.getCalibration().pixelWidth = 0.1;
        imp.getCalibration().pixelHeight = 0.1;
        imp.getCalibration().setUnit("micron");
        return imp;
    }

    @Test
    void padMapIsNumpyReflectOrEdge() {
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 3, 2, 1}, LocalizeJob.padMap(5, 8, true));
        assertArrayEquals(new int[] {0, 1, 1, 1}, LocalizeJob.padMap(2, 4, false));
    }

    @Test
    void deepstormPeakIsTheCentroidOfItsNeighbourhood() {
        int h = 20;
        int w = 24;
        float[] d = new float[h * w];
        d[10 * w + 6] = 10;
        d[10 * w + 7] = 5; // pulls the centroid right by 5 / 15
        d[9 * w + 6] = -3; // negative weights are clipped
        d[3 * w + 3] = 4.9f; // below threshold
        Localizations out = new Localizations();
        LocalizeJob.deepstormPeaks(d, h, w, 25.0, 5f, 2, out);
        assertEquals(1, out.size());
        assertEquals(2, out.frame(0));
        assertEquals((6 + 0.5 + 5.0 / 15) * 25, out.get(Localizations.X, 0), 1e-9);
        assertEquals((10 + 0.5) * 25, out.get(Localizations.Y, 0), 1e-9);
        assertEquals(0, out.get(Localizations.Z, 0), 0);
        assertTrue(Double.isNaN(out.get(Localizations.INTENSITY, 0)));
    }

    @Test
    void deepstormPlateauAndClampedBorder() {
        float[] d = new float[5 * 5];
        d[0] = 8; // at the corner: clamped indices repeat it, still a maximum
        d[2 * 5 + 3] = 7;
        d[2 * 5 + 4] = 7; // a plateau: both equal their 5x5 max -> both kept (as NumPy's == maximum_filter)
        Localizations out = new Localizations();
        LocalizeJob.deepstormPeaks(d, 5, 5, 1.0, 1f, 0, out);
        // values from fluorecon.tasks.localize.deepstorm_peaks on the same array
        assertEquals(3, out.size());
        assertEquals(0.0, out.get(Localizations.X, 0), 1e-9); // the clamped 3x3 holds the corner 4 times
        assertEquals(4.0, out.get(Localizations.X, 1), 1e-9);
        assertEquals(4.5, out.get(Localizations.X, 2), 1e-9);
        assertEquals(2.5, out.get(Localizations.Y, 2), 1e-9);
    }

    @Test
    void decodeKeepsLocalMaximaAboveTheAggregateThresholdAndConfidentPixels() {
        int h = 6;
        int w = 7;
        float[][] ch = new float[10][h * w];
        ch[0][1 * w + 1] = 0.3f; // local max, 3x3 sum 0.3 + 0.2 = 0.5 > 0.45
        ch[0][1 * w + 2] = 0.2f;
        ch[0][4 * w + 5] = 0.65f; // confident
        ch[0][4 * w + 4] = 0.62f; // confident although not a local maximum
        ch[0][3 * w + 0] = 0.1f; // local max, sum 0.1 < 0.45
        ch[1][1 * w + 1] = 0.25f;
        ch[2][1 * w + 1] = -0.5f;
        ch[3][1 * w + 1] = 120;
        ch[4][1 * w + 1] = 900;
        ch[5][1 * w + 1] = 0.3f;
        ch[6][1 * w + 1] = 0.4f;
        ch[9][1 * w + 1] = 16;
        Localizations out = new Localizations();
        LocalizeJob.decodePeaks(ch, h, w, 100.0, 0.45f, 7, out);
        assertEquals(3, out.size());
        assertEquals((1 + 0.5 + 0.25) * 100, out.get(Localizations.X, 0), 1e-4);
        assertEquals((1 + 0.5 - 0.5) * 100, out.get(Localizations.Y, 0), 1e-4);
        assertEquals(120, out.get(Localizations.Z, 0), 0);
        assertEquals(900, out.get(Localizations.INTENSITY, 0), 0);
        assertEquals(16, out.get(Localizations.OFFSET, 0), 0);
        assertEquals(4, out.get(Localizations.BKGSTD, 0), 1e-6);
        assertEquals(Math.sqrt((0.09 + 0.16) / 2) * 100, out.get(Localizations.UNCERTAINTY, 0), 1e-4);
        assertEquals(4 * 100 + 50, out.get(Localizations.Y, 1), 1e-4); // row-major order: (4,4) then (4,5)
        assertEquals(4 * 100 + 50, out.get(Localizations.X, 1), 1e-4);
        assertEquals(5 * 100 + 50, out.get(Localizations.X, 2), 1e-4);
    }

    @Test
    void boxSumMatchesTheNaiveSum() {
        java.util.Random r = new java.util.Random(1);
        int h = 9;
        int w = 11;
        float[] p = new float[h * w];
        for (int i = 0; i < p.length; i++) {
            p[i] = r.nextFloat();
        }
        float[] s = LocalizeJob.boxSum3(p, h, w);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double n = 0;
                for (int dy = -1; dy <= 1; dy++) {
                    for (int dx = -1; dx <= 1; dx++) {
                        if (y + dy >= 0 && y + dy < h && x + dx >= 0 && x + dx < w) {
                            n += p[(y + dy) * w + x + dx];
                        }
                    }
                }
                assertEquals(n, s[y * w + x], 1e-5);
            }
        }
    }

    @Test
    void decodeInputsAreNeighbouringFramesInPhotonsOverScale() {
        // frames of constant ADU 100 + 10 f: photons = (ADU - 100) / (0.5 * 2 * 1) = 10 f; input = photons / 100
        int n = 5;
        ImageStack st = new ImageStack(6, 5);
        for (int f = 0; f < n; f++) {
            float[] px = new float[30];
            java.util.Arrays.fill(px, 100 + 10 * f);
            st.addSlice(new FloatProcessor(6, 5, px));
        }
        ImagePlus imp = new ImagePlus("t", st);
        List<long[]> shapes = new ArrayList<>();
        List<float[]> firstPixels = new ArrayList<>();
        Model m = fake(card("decode", 3, 10, 1), (in, shape) -> {
            int b = (int) shape[0];
            int plane = (int) (shape[2] * shape[3]);
            for (int i = 0; i < b; i++) {
                firstPixels.add(new float[] {in.get((i * 3) * plane), in.get((i * 3 + 1) * plane),
                    in.get((i * 3 + 2) * plane)});
            }
            return FloatBuffer.allocate(b * 10 * plane);
        }, shapes);
        LocalizeJob.Settings s = new LocalizeJob.Settings();
        s.gain = 0.5;
        s.emGain = 2;
        s.batchFrames = 2;
        LocalizeJob job = new LocalizeJob(imp, Path.of("fake.onnx"), s, (p, t, g) -> m);
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertEquals(0.5, job.threshold(), 0);
        assertEquals(100, job.pixelNm(), 0); // uncalibrated: the CLI's default
        assertTrue(job.process(Progress.NONE), job.getErrorMessage());
        assertArrayEquals(new long[] {2, 3, 8, 8}, shapes.get(0)); // 5x6 padded to 8x8
        assertArrayEquals(new long[] {1, 3, 8, 8}, shapes.get(2));
        float[][] want = {{0, 0, .1f}, {0, .1f, .2f}, {.1f, .2f, .3f}, {.2f, .3f, .4f}, {.3f, .4f, .4f}};
        for (int f = 0; f < n; f++) {
            assertArrayEquals(want[f], firstPixels.get(f), 1e-6f, "frame " + f);
        }
        assertEquals(0, job.getTable().size());
        assertEquals(50 * 60, job.getRendering().getWidth() * job.getRendering().getHeight());
    }

    @Test
    void deepstormEndToEndWithAFakeUpsamplingNetwork() {
        // "network": ×4 density with one bright fine pixel where the input is brightest
        ImagePlus imp = frames(3, 8, 8, 100);
        imp.getStack().getProcessor(2).setf(5, 2, 1100); // frame 1, x=5, y=2 (1000 photons)
        List<long[]> shapes = new ArrayList<>();
        Model m = fake(card("deepstorm", 1, 1, 4), (in, shape) -> {
            int b = (int) shape[0];
            int hh = (int) shape[2];
            int ww = (int) shape[3];
            FloatBuffer out = FloatBuffer.allocate(b * hh * ww * 16);
            for (int i = 0; i < b; i++) {
                for (int y = 0; y < hh; y++) {
                    for (int x = 0; x < ww; x++) {
                        float v = in.get((i * hh + y) * ww + x);
                        out.put((i * hh * 4 + y * 4 + 1) * ww * 4 + x * 4 + 2, v);
                    }
                }
            }
            return out;
        }, shapes);
        LocalizeJob.Settings s = new LocalizeJob.Settings();
        s.threshold = 5; // input is photons / 100 = 10 at the bright pixel
        List<Long> progress = new ArrayList<>();
        LocalizeJob job = new LocalizeJob(imp, Path.of("fake.onnx"), s, (p, t, g) -> m);
        assertTrue(job.process(new Progress() {
            @Override
            public void update(long done, long total) {
                progress.add(done);
            }

            @Override
            public boolean isCancelled() {
                return false;
            }
        }), job.getErrorMessage());
        Localizations t = job.getTable();
        assertEquals(1, t.size());
        assertEquals(1, t.frame(0));
        assertEquals((5 * 4 + 2 + 0.5) * 25, t.get(Localizations.X, 0), 1e-9);
        assertEquals((2 * 4 + 1 + 0.5) * 25, t.get(Localizations.Y, 0), 1e-9);
        assertEquals(List.of(3L), progress);
        ImagePlus r = job.getRendering();
        assertEquals(80, r.getWidth()); // 8 px × 100 nm / 10 nm
        assertEquals(0.01, r.getCalibration().pixelWidth, 1e-12);
        assertTrue(((String) r.getProperty("Info")).contains("localizations = 1"));
    }

    @Test
    void refusesChannelsBothAxesAndOtherTasks() {
        ImagePlus twoChannels = frames(4, 8, 8, 100);
        twoChannels.setDimensions(2, 1, 2);
        Model ds = fake(card("deepstorm", 1, 1, 4), (in, shape) -> null, new ArrayList<>());
        LocalizeJob job = new LocalizeJob(twoChannels, Path.of("m.onnx"), new LocalizeJob.Settings(), (p, t, g) -> ds);
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("has 2 channels"), job.getErrorMessage());

        ImagePlus zt = frames(4, 8, 8, 100);
        zt.setDimensions(1, 2, 2);
        job = new LocalizeJob(zt, Path.of("m.onnx"), new LocalizeJob.Settings(), (p, t, g) -> ds);
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("both z-slices (2) and frames (2)"), job.getErrorMessage());

        Map<String, String> denoise = card("deepstorm", 1, 1, 4);
        denoise.put("task", "denoise");
        denoise.put("norm", "percentile:1:99.8");
        Model other = fake(denoise, (in, shape) -> null, new ArrayList<>());
        job = new LocalizeJob(frames(2, 8, 8, 100), Path.of("m.onnx"), new LocalizeJob.Settings(), (p, t, g) -> other);
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("needs a localize/deepstorm or localize/decode model"),
                job.getErrorMessage());
    }

    @Test
    void cancelStopsBetweenBatchesWithNoOutput() {
        Model m = fake(card("deepstorm", 1, 1, 4), (in, shape) -> FloatBuffer.allocate((int) (shape[0] * shape[2]
                * shape[3] * 16)), new ArrayList<>());
        LocalizeJob.Settings s = new LocalizeJob.Settings();
        s.batchFrames = 1;
        LocalizeJob job = new LocalizeJob(frames(5, 8, 8, 100), Path.of("m.onnx"), s, (p, t, g) -> m);
        int[] calls = {0};
        assertFalse(job.process(new Progress() {
            @Override
            public void update(long done, long total) {
                calls[0]++;
            }

            @Override
            public boolean isCancelled() {
                return calls[0] >= 2;
            }
        }));
        assertTrue(job.isCancelled());
        assertEquals(null, job.getTable());
        assertEquals("Localize was cancelled; no output was made.", job.getErrorMessage());
    }
}
