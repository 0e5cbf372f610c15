package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.FloatBuffer;
import java.util.Random;
import java.util.concurrent.CancellationException;
import org.junit.jupiter.api.Test;

/** Stitching checked with plain-Java "networks" whose whole-image output is known. */
class TiledInferenceTest {

    private static final String[] MEAN = {"mean"};

    private static Block random(int depth, int h, int w, long seed) {
        Random rnd = new Random(seed);
        Block b = Block.allocate(1, depth, h, w);
        for (float[] plane : b.data[0]) {
            for (int i = 0; i < plane.length; i++) {
                plane[i] = 100 + 50 * rnd.nextFloat();
            }
        }
        return b;
    }

    /** 3x3(x3) box mean with zero padding inside the tile: receptive field 1 px. */
    private static TileModel box(int nd) {
        return (in, shape) -> {
            int d = nd == 3 ? (int) shape[2] : 1;
            int h = (int) shape[shape.length - 2];
            int w = (int) shape[shape.length - 1];
            float[] x = new float[in.remaining()];
            in.get(x);
            float[] y = new float[x.length];
            int dzr = nd == 3 ? 1 : 0;
            for (int z = 0; z < d; z++) {
                for (int r = 0; r < h; r++) {
                    for (int c = 0; c < w; c++) {
                        float s = 0;
                        for (int dz = -dzr; dz <= dzr; dz++) {
                            for (int dr = -1; dr <= 1; dr++) {
                                for (int dc = -1; dc <= 1; dc++) {
                                    int zz = z + dz;
                                    int rr = r + dr;
                                    int cc = c + dc;
                                    if (zz >= 0 && zz < d && rr >= 0 && rr < h && cc >= 0 && cc < w) {
                                        s += x[(zz * h + rr) * w + cc];
                                    }
                                }
                            }
                        }
                        y[(z * h + r) * w + c] = s / 27f;
                    }
                }
            }
            return FloatBuffer.wrap(y);
        };
    }

    private static void assertClose(Block a, Block b, double tol) {
        assertEquals(a.channels, b.channels);
        assertEquals(a.depth, b.depth);
        for (int c = 0; c < a.channels; c++) {
            for (int z = 0; z < a.depth; z++) {
                float[] p = a.data[c][z];
                float[] q = b.data[c][z];
                for (int i = 0; i < p.length; i++) {
                    assertEquals(p[i], q[i], tol, "c=" + c + " z=" + z + " i=" + i);
                }
            }
        }
    }

    @Test
    void tiledEqualsWholeIn2D() throws Exception {
        Block in = random(1, 45, 70, 1);
        int[] shape = {45, 70};
        double[] lo = {100};
        double[] hi = {150};
        Block whole = TiledInference.predict(box(2), in,
                Tiling.plan(shape, new int[] {1 << 20}, new int[] {1}, new int[] {2}, new int[] {1}),
                lo, hi, MEAN, 1, Progress.NONE);
        Tiling.Plan small = Tiling.plan(shape, new int[] {8}, new int[] {2}, new int[] {2}, new int[] {1});
        Block tiled = TiledInference.predict(box(2), in, small, lo, hi, MEAN, 1, Progress.NONE);
        assertClose(whole, tiled, 1e-4);
    }

    @Test
    void tiledEqualsWholeIn3D() throws Exception {
        Block in = random(11, 20, 17, 2);
        int[] shape = {11, 20, 17};
        double[] lo = {100};
        double[] hi = {150};
        Block whole = TiledInference.predict(box(3), in,
                Tiling.plan(shape, new int[] {1 << 20}, new int[] {2}, new int[] {1}, new int[] {1}),
                lo, hi, MEAN, 1, Progress.NONE);
        Block tiled = TiledInference.predict(box(3), in,
                Tiling.plan(shape, new int[] {6, 8, 8}, new int[] {2}, new int[] {2}, new int[] {1}),
                lo, hi, MEAN, 1, Progress.NONE);
        assertClose(whole, tiled, 1e-4);
    }

    @Test
    void identityRoundTripsThroughNormalization() throws Exception {
        Block in = random(1, 13, 9, 3);
        double[] r = Normalizer.percentileRange(in.data[0], 1, 99.8);
        Block out = TiledInference.predict((x, s) -> x, in,
                Tiling.plan(new int[] {13, 9}, new int[] {4}, new int[] {1}, new int[] {1}, new int[] {1}),
                new double[] {r[0]}, new double[] {r[1]}, MEAN, 1, Progress.NONE);
        assertClose(in, out, 1e-4);
    }

    @Test
    void scaleOutputsAreOnlyMultipliedAndUpscalingStitches() throws Exception {
        Block in = random(1, 10, 12, 4);
        // nearest-neighbour x2 upsampling; two output channels: mean and scale
        TileModel up = (x, shape) -> {
            int h = (int) shape[2];
            int w = (int) shape[3];
            float[] v = new float[x.remaining()];
            x.get(v);
            float[] y = new float[2 * 4 * h * w];
            for (int k = 0; k < 2; k++) {
                for (int r = 0; r < 2 * h; r++) {
                    for (int c = 0; c < 2 * w; c++) {
                        y[(k * 2 * h + r) * 2 * w + c] = v[(r / 2) * w + c / 2];
                    }
                }
            }
            return FloatBuffer.wrap(y);
        };
        double lo = 100;
        double hi = 150;
        Block out = TiledInference.predict(up, in,
                Tiling.plan(new int[] {10, 12}, new int[] {4}, new int[] {1}, new int[] {1}, new int[] {2}),
                new double[] {lo}, new double[] {hi}, new String[] {"mean", "scale"}, 2, Progress.NONE);
        assertEquals(20, out.height);
        assertEquals(24, out.width);
        for (int r = 0; r < 20; r++) {
            for (int c = 0; c < 24; c++) {
                float v = in.data[0][0][(r / 2) * 12 + c / 2];
                assertEquals(v, out.data[0][0][r * 24 + c], 1e-4);
                assertEquals(v - lo, out.data[1][0][r * 24 + c], 1e-4);
            }
        }
    }

    @Test
    void cancellationStopsBeforeTheNextTile() {
        Block in = random(1, 32, 32, 5);
        int[] calls = {0};
        Progress cancelAfterTwo = new Progress() {
            @Override
            public void update(long done, long total) {
            }

            @Override
            public boolean isCancelled() {
                return calls[0] >= 2;
            }
        };
        TileModel counting = (x, s) -> {
            calls[0]++;
            return x;
        };
        assertThrows(CancellationException.class, () -> TiledInference.predict(counting, in,
                Tiling.plan(new int[] {32, 32}, new int[] {8}, new int[] {0}, new int[] {1}, new int[] {1}),
                new double[] {0}, new double[] {1}, MEAN, 1, cancelAfterTwo));
        assertEquals(2, calls[0]);
    }

    @Test
    void wrongOutputSizeIsReported() {
        Block in = random(1, 8, 8, 6);
        FluoreconException e = assertThrows(FluoreconException.class, () -> TiledInference.predict(
                (x, s) -> FloatBuffer.allocate(3), in,
                Tiling.plan(new int[] {8, 8}, new int[] {8}, new int[] {0}, new int[] {1}, new int[] {1}),
                new double[] {0}, new double[] {1}, MEAN, 1, Progress.NONE));
        assertEquals(true, e.getMessage().contains("channels.out"));
    }
}
