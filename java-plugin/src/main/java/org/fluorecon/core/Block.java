package org.fluorecon.core;

/**
 * A block of float32 pixels, {@code (C, Z, Y, X)} with Z = 1 for 2D, stored as one array per
 * (channel, plane) so that ImageJ stack slices are used without copying:
 * {@code data[c][z][y * width + x]}.
 */
public final class Block {
    public final int channels;
    public final int depth;
    public final int height;
    public final int width;
    public final float[][][] data;

    public Block(float[][][] data, int depth, int height, int width) {
        if (data.length == 0 || data[0].length != depth) {
            throw new IllegalArgumentException("block data does not match depth " + depth);
        }
        for (float[][] ch : data) {
            for (float[] plane : ch) {
                if (plane.length != height * width) {
                    throw new IllegalArgumentException("plane of " + plane.length + " values is not " + height + "x" + width);
                }
            }
        }
        this.channels = data.length;
        this.depth = depth;
        this.height = height;
        this.width = width;
        this.data = data;
    }

    /** A zero-filled block. */
    public static Block allocate(int channels, int depth, int height, int width) {
        float[][][] d = new float[channels][depth][];
        for (int c = 0; c < channels; c++) {
            for (int z = 0; z < depth; z++) {
                d[c][z] = new float[height * width];
            }
        }
        return new Block(d, depth, height, width);
    }

    /** A single-channel 2D block around one plane (no copy). */
    public static Block ofPlane(float[] plane, int height, int width) {
        return new Block(new float[][][] {{plane}}, 1, height, width);
    }

    /** Spatial shape for a model with {@code ndim} spatial axes: (y, x) or (z, y, x). */
    public int[] spatialShape(int ndim) {
        if (ndim == 2) {
            if (depth != 1) {
                throw new IllegalArgumentException("a 2D model takes one plane at a time, got depth " + depth);
            }
            return new int[] {height, width};
        }
        return new int[] {depth, height, width};
    }
}
