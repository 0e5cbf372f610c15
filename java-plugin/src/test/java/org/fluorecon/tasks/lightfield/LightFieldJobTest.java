package org.fluorecon.tasks.lightfield;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.process.FloatProcessor;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.core.Model;
import org.fluorecon.core.ModelCard;
import org.fluorecon.core.Progress;
import org.fluorecon.testutil.FakeModel;
import org.fluorecon.testutil.OnnxModels;
import org.junit.jupiter.api.Test;

/**
 * {@link LightFieldJob} with a stand-in network whose z plane k is view k up-sampled by nearest
 * neighbour: the volume then shows where each view's pixels went (extraction, tiling with halo,
 * stitching, de-normalization), and the z calibration comes from the card.
 */
class LightFieldJobTest {
    static final int NNUM = 3;
    static final int PLANES = 4;

    static Map<String, String> cardMap() {
        Map<String, String> m = OnnxModels.card(2, 2, 2, 6);
        m.put("task", "lightfield");
        m.put("method", "vcd");
        m.put("channels.in", Integer.toString(NNUM * NNUM));
        m.put("channels.out", Integer.toString(PLANES));
        m.put("scale", NNUM + "," + NNUM);
        m.put("train.nnum", Integer.toString(NNUM));
        m.put("train.z_planes", Integer.toString(PLANES));
        m.put("train.z_step_um", "2.5");
        m.put("train.z_min_um", "-5.0");
        m.put("train.voxel_size_um", "0.4");
        return m;
    }

    /** z plane k = view k, nearest-neighbour up-sampled by nnum. */
    static class ViewsAsPlanes extends FakeModel {
        ViewsAsPlanes() {
            this(cardMap());
        }

        ViewsAsPlanes(Map<String, String> meta) {
            super(ModelCard.fromMetadata(meta), "views-as-planes.onnx");
        }

        @Override
        public FloatBuffer run(FloatBuffer in, long[] shape) {
            int h = (int) shape[2];
            int w = (int) shape[3];
            int fh = h * NNUM;
            int fw = w * NNUM;
            FloatBuffer out = FloatBuffer.allocate(PLANES * fh * fw);
            for (int k = 0; k < PLANES; k++) {
                for (int y = 0; y < fh; y++) {
                    for (int x = 0; x < fw; x++) {
                        out.put(in.get((k * h + y / NNUM) * w + x / NNUM));
                    }
                }
            }
            out.flip();
            return out;
        }
    }

    static ImagePlus lightField(int lensletsY, int lensletsX) {
        int h = lensletsY * NNUM;
        int w = lensletsX * NNUM;
        float[] px = new float[h * w];
        for (int i = 0; i < px.length; i++) {
            px[i] = (i * 37) % 101;
        }
        return new ImagePlus("lf", new FloatProcessor(w, h, px));
    }

    @Test
    void volumePlanesAreTheViewsWithTheCardsZCalibration() {
        ImagePlus lf = lightField(7, 5); // several tiles of 6 with halo 2
        LightFieldJob job = new LightFieldJob(lf, Path.of("m.onnx"), 6, 1, false, (f, t, g) -> new ViewsAsPlanes(), null);
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertTrue(job.getPlan().numTiles() > 1);
        assertTrue(job.process(Progress.NONE), job.getErrorMessage());
        ImagePlus vol = job.getResult();
        assertEquals(PLANES, vol.getStackSize());
        assertEquals(lf.getWidth(), vol.getWidth());
        float[] src = (float[]) lf.getProcessor().getPixels();
        int w = lf.getWidth();
        for (int k = 0; k < PLANES; k++) {
            float[] plane = (float[]) vol.getStack().getPixels(k + 1);
            int v = k / NNUM;
            int u = k % NNUM;
            for (int y = 0; y < vol.getHeight(); y++) {
                for (int x = 0; x < w; x++) {
                    float expected = src[((y / NNUM) * NNUM + v) * w + (x / NNUM) * NNUM + u];
                    assertEquals(expected, plane[y * w + x], 1e-3f, "plane " + k + " at " + x + "," + y);
                }
            }
        }
        assertEquals(0.4, vol.getCalibration().pixelWidth, 1e-12);
        assertEquals(2.5, vol.getCalibration().pixelDepth, 1e-12);
        assertEquals(-5.0, vol.getCalibration().getZ(0), 1e-12);
        assertEquals("z=-5.000 um", vol.getStack().getSliceLabel(1));
        assertTrue(vol.getInfoProperty().contains("lightfield.z_planes = 4"));
    }

    @Test
    void refusesOtherTasksPartialLensletsAndMismatchedCalibrations() {
        Map<String, String> denoise = cardMap();
        denoise.put("task", "denoise");
        Model other = new ViewsAsPlanes(denoise);
        LightFieldJob wrongTask = new LightFieldJob(lightField(4, 4), Path.of("d.onnx"), 0, 1, false,
                (f, t, g) -> other, null);
        assertFalse(wrongTask.checkInput());
        assertTrue(wrongTask.getErrorMessage().contains("is a denoise model"), wrongTask.getErrorMessage());

        ImagePlus odd = new ImagePlus("odd", new FloatProcessor(10, 9));
        LightFieldJob partial = new LightFieldJob(odd, Path.of("m.onnx"), 0, 1, false, (f, t, g) -> new ViewsAsPlanes(),
                null);
        assertFalse(partial.checkInput());
        assertTrue(partial.getErrorMessage().contains("not a whole number of 3x3 lenslets"), partial.getErrorMessage());

        LensletGrid grid = new LensletGrid(3.2, 0, 1.5, 1.5, 3, 3, 5, 12, 12);
        LightFieldJob nnum = new LightFieldJob(lightField(4, 4), Path.of("m.onnx"), 0, 1, false,
                (f, t, g) -> new ViewsAsPlanes(), grid);
        assertFalse(nnum.checkInput());
        assertTrue(nnum.getErrorMessage().contains("rectifies to nnum = 5"), nnum.getErrorMessage());
    }
}
