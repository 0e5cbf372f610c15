package org.fluorecon.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.concurrent.CancellationException;

/**
 * Normalize, tile with halo, run, stitch the cores, de-normalize: rules 5-7 of the tiling contract
 * in docs/DESIGN.md, mirrored by {@code fluorecon.core.tiling.predict_tiled}.
 *
 * <p>The padded image is never built: each tile is filled straight from the source planes
 * through per-axis reflect index maps and normalized on the fly, so the only whole-image
 * allocation is the output itself. The tile buffer is one direct buffer reused for every tile.
 */
public final class TiledInference {

    private TiledInference() {
    }

    /**
     * Predicts one block.
     *
     * @param model       the network
     * @param input       (C_in, Z, Y, X) block; Z must be 1 for a 2D plan
     * @param plan        tile plan over the block's spatial shape (2 or 3 axes)
     * @param lo          normalization low value per input channel
     * @param hi          normalization high value per input channel
     * @param outputKinds output channel groups, e.g. {"mean"} or {"mean", "scale"}
     * @param channelsOut number of output channels of the network
     * @param progress    called after each tile; cancellation is checked before each tile
     * @return (C_out, Z*sz, Y*sy, X*sx) de-normalized output
     * @throws CancellationException when {@code progress.isCancelled()}
     */
    public static Block predict(TileModel model, Block input, Tiling.Plan plan, double[] lo, double[] hi,
                                String[] outputKinds, int channelsOut, Progress progress) throws Exception {
        int nd = plan.ndim();
        if (nd != 2 && nd != 3) {
            throw new IllegalArgumentException("plans have 2 or 3 spatial axes, got " + nd);
        }
        int[] shape = input.spatialShape(nd);
        for (int a = 0; a < nd; a++) {
            if (shape[a] != plan.shape[a]) {
                throw new IllegalArgumentException("block shape does not match the tile plan " + plan);
            }
        }
        // Work in (z, y, x) with a trivial z axis for 2D plans.
        int off = 3 - nd;
        int[] size = {input.depth, input.height, input.width};
        int[] tile = new int[3];
        int[] halo = new int[3];
        int[] core = new int[3];
        int[] count = new int[3];
        int[] scale = new int[3];
        int[][] map = new int[3][];
        for (int a = 0; a < 3; a++) {
            if (a < off) {
                tile[a] = 1;
                core[a] = 1;
                count[a] = 1;
                scale[a] = 1;
                map[a] = new int[] {0};
            } else {
                int p = a - off;
                tile[a] = plan.tile[p];
                halo[a] = plan.halo[p];
                core[a] = plan.core[p];
                count[a] = plan.count[p];
                scale[a] = plan.scale[p];
                map[a] = Tiling.reflectMap(size[a], plan.padBefore[p], plan.padAfter[p]);
            }
        }
        int cin = input.channels;
        int tileVox = tile[0] * tile[1] * tile[2];
        int[] outTile = {tile[0] * scale[0], tile[1] * scale[1], tile[2] * scale[2]};
        int outTileVox = outTile[0] * outTile[1] * outTile[2];
        int[] outSize = {size[0] * scale[0], size[1] * scale[1], size[2] * scale[2]};

        long[] tensorShape = new long[2 + nd];
        tensorShape[0] = 1;
        tensorShape[1] = cin;
        for (int p = 0; p < nd; p++) {
            tensorShape[2 + p] = tile[off + p];
        }
        float[] staging = new float[cin * tileVox];
        FloatBuffer buffer = ByteBuffer.allocateDirect(staging.length * Float.BYTES)
                .order(ByteOrder.nativeOrder()).asFloatBuffer();
        float[] result = new float[channelsOut * outTileVox];

        float[] loF = new float[cin];
        float[] dF = new float[cin];
        for (int c = 0; c < cin; c++) {
            loF[c] = (float) lo[c];
            dF[c] = (float) Normalizer.range(lo[c], hi[c]);
        }
        int groups = outputKinds.length;
        int perGroup = channelsOut / groups;
        boolean[] isScale = new boolean[channelsOut];
        int[] srcChannel = new int[channelsOut];
        for (int j = 0; j < channelsOut; j++) {
            isScale[j] = outputKinds[Math.min(j / perGroup, groups - 1)].equals("scale");
            srcChannel[j] = (j % perGroup) % cin;
        }

        Block out = Block.allocate(channelsOut, outSize[0], outSize[1], outSize[2]);
        long total = (long) count[0] * count[1] * count[2];
        long done = 0;
        int w = size[2];
        for (int tz = 0; tz < count[0]; tz++) {
            for (int ty = 0; ty < count[1]; ty++) {
                for (int tx = 0; tx < count[2]; tx++) {
                    if (progress.isCancelled()) {
                        throw new CancellationException("cancelled");
                    }
                    int z0 = tz * core[0];
                    int y0 = ty * core[1];
                    int x0 = tx * core[2];
                    // fill: padded[z0 + dz, y0 + dy, x0 + dx] for every channel, normalized
                    int k = 0;
                    for (int c = 0; c < cin; c++) {
                        float l = loF[c];
                        float d = dF[c];
                        float[][] planes = input.data[c];
                        for (int dz = 0; dz < tile[0]; dz++) {
                            float[] plane = planes[map[0][z0 + dz]];
                            for (int dy = 0; dy < tile[1]; dy++) {
                                int row = map[1][y0 + dy] * w;
                                int[] mx = map[2];
                                for (int dx = 0; dx < tile[2]; dx++) {
                                    staging[k++] = (plane[row + mx[x0 + dx]] - l) / d;
                                }
                            }
                        }
                    }
                    buffer.clear();
                    buffer.put(staging);
                    buffer.flip();
                    FloatBuffer res = model.run(buffer, tensorShape);
                    if (res.remaining() != result.length) {
                        throw new FluoreconException("The model returned " + res.remaining() + " values for a tile, "
                                + "expected " + result.length + " (" + channelsOut + " channels of "
                                + outTile[0] + "x" + outTile[1] + "x" + outTile[2] + "); check the card's "
                                + "channels.out and scale.");
                    }
                    res.get(result);
                    // stitch: output[(o + core) * s] <- result[(h .. h + core) * s], cropped to the image
                    for (int j = 0; j < channelsOut; j++) {
                        float l = isScale[j] ? 0f : loF[srcChannel[j]];
                        float d = dF[srcChannel[j]];
                        float[][] dst = out.data[j];
                        int rbase = j * outTileVox;
                        int zStart = z0 * scale[0];
                        int zEnd = Math.min((z0 + core[0]) * scale[0], outSize[0]);
                        int yStart = y0 * scale[1];
                        int yEnd = Math.min((y0 + core[1]) * scale[1], outSize[1]);
                        int xStart = x0 * scale[2];
                        int xEnd = Math.min((x0 + core[2]) * scale[2], outSize[2]);
                        for (int oz = zStart; oz < zEnd; oz++) {
                            int rz = oz - zStart + halo[0] * scale[0];
                            float[] plane = dst[oz];
                            for (int oy = yStart; oy < yEnd; oy++) {
                                int ry = oy - yStart + halo[1] * scale[1];
                                int rrow = rbase + (rz * outTile[1] + ry) * outTile[2] + halo[2] * scale[2] - xStart;
                                int orow = oy * outSize[2];
                                for (int ox = xStart; ox < xEnd; ox++) {
                                    plane[orow + ox] = result[rrow + ox] * d + l;
                                }
                            }
                        }
                    }
                    progress.update(++done, total);
                }
            }
        }
        return out;
    }
}
