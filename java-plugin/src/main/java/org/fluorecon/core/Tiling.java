package org.fluorecon.core;

import java.util.Arrays;

/**
 * Tile plan for halo-overlapped inference: the contract in docs/DESIGN.md ("Tiling"),
 * implemented identically by {@code fluorecon.core.tiling.plan_tiles} in Python.
 *
 * <p>All arrays are per spatial axis in C order: (y, x) or (z, y, x).
 */
public final class Tiling {

    private Tiling() {
    }

    /** An immutable tile plan; fields are per spatial axis. */
    public static final class Plan {
        public final int[] shape;
        public final int[] tile;
        public final int[] halo;
        public final int[] core;
        public final int[] count;
        public final int[] padBefore;
        public final int[] padAfter;
        public final int[] scale;

        Plan(int[] shape, int[] tile, int[] halo, int[] core, int[] count,
             int[] padBefore, int[] padAfter, int[] scale) {
            this.shape = shape;
            this.tile = tile;
            this.halo = halo;
            this.core = core;
            this.count = count;
            this.padBefore = padBefore;
            this.padAfter = padAfter;
            this.scale = scale;
        }

        public int ndim() {
            return shape.length;
        }

        /** Total number of tiles. */
        public int numTiles() {
            int n = 1;
            for (int c : count) {
                n *= c;
            }
            return n;
        }

        /** Output length per axis, {@code shape * scale}. */
        public int[] outputShape() {
            int[] out = new int[shape.length];
            for (int a = 0; a < shape.length; a++) {
                out[a] = shape[a] * scale[a];
            }
            return out;
        }

        @Override
        public String toString() {
            return "Plan{shape=" + Arrays.toString(shape) + ", tile=" + Arrays.toString(tile)
                    + ", halo=" + Arrays.toString(halo) + ", core=" + Arrays.toString(core)
                    + ", count=" + Arrays.toString(count) + ", scale=" + Arrays.toString(scale) + "}";
        }
    }

    /**
     * Plans the tile grid.
     *
     * @param shape    image length per spatial axis (each &ge; 1)
     * @param tile     requested tile per axis (&ge; 1), or one value for all axes
     * @param halo     halo per axis (&ge; 0), or one value for all axes
     * @param multiple network size multiple per axis (&ge; 1), or one value for all axes
     * @param scale    integer output/input scale per axis (&ge; 1), or one value for all axes
     */
    public static Plan plan(int[] shape, int[] tile, int[] halo, int[] multiple, int[] scale) {
        int nd = shape.length;
        if (nd < 1) {
            throw new IllegalArgumentException("shape must have at least one axis");
        }
        int[] t = broadcast("tile", tile, nd);
        int[] h = broadcast("halo", halo, nd);
        int[] m = broadcast("multiple", multiple, nd);
        int[] s = broadcast("scale", scale, nd);
        int[] core = new int[nd];
        int[] count = new int[nd];
        int[] before = new int[nd];
        int[] after = new int[nd];
        int[] tOut = new int[nd];
        int[] hOut = new int[nd];
        for (int a = 0; a < nd; a++) {
            int size = shape[a];
            if (size < 1) {
                throw new IllegalArgumentException("shape[" + a + "] = " + size + "; every axis needs at least 1 pixel");
            }
            if (t[a] < 1 || h[a] < 0 || m[a] < 1 || s[a] < 1) {
                throw new IllegalArgumentException("invalid tiling parameters on axis " + a + ": tile=" + t[a]
                        + " halo=" + h[a] + " multiple=" + m[a] + " scale=" + s[a]);
            }
            int mm = m[a];
            int hh = roundUp(h[a], mm);
            int tt = roundUp(t[a], mm);
            if (tt - 2 * hh < mm) {
                tt = 2 * hh + mm;
            }
            int whole = roundUp(size, mm);
            if (tt - 2 * hh >= whole) {
                tt = whole + 2 * hh;
            }
            int c = tt - 2 * hh;
            int n = (size + c - 1) / c;
            tOut[a] = tt;
            hOut[a] = hh;
            core[a] = c;
            count[a] = n;
            before[a] = hh;
            after[a] = n * c - size + hh;
        }
        return new Plan(shape.clone(), tOut, hOut, core, count, before, after, s.clone());
    }

    /**
     * The tile size to request so that {@code plan} covers an axis of length {@code size} with the
     * same number of tiles as {@code tile} would, but with the least padding: the cores are
     * spread evenly ({@code C' = roundUp(ceil(S / n), m)}). Never larger than the plan's tile for
     * {@code tile}, so memory stays within what was asked; it only removes wasted work (for
     * S = 2048, T = 512, H = 32: 25 tiles of 476 instead of 512 pixels, 14% less compute).
     */
    public static int balancedTile(int size, int tile, int halo, int multiple) {
        int m = multiple;
        int h = roundUp(halo, m);
        int t = roundUp(tile, m);
        if (t - 2 * h < m) {
            t = 2 * h + m;
        }
        int c = t - 2 * h;
        int whole = roundUp(size, m);
        if (c >= whole) {
            return whole + 2 * h;
        }
        int n = (size + c - 1) / c;
        int even = roundUp((size + n - 1) / n, m);
        return even + 2 * h;
    }

    /**
     * Smallest tile a user may ask for on an axis: the halo (rounded up to the multiple) on both sides
     * plus a core of one multiple (DESIGN.md "Tiling", rule 0; tests/vectors/tile_minimum.json).
     */
    public static int minTile(int halo, int multiple) {
        return 2 * roundUp(halo, multiple) + multiple;
    }

    /**
     * Refuses a user's {@code tile} below {@link #minTile} with the message Python's
     * {@code check_requested_tile} gives: such tiles compute mostly halo (3D tile=48 with halo 24
     * made 1024 tiles, 145 s instead of 3 s). The model's own default and balanced tiles are not checked.
     */
    public static void checkRequestedTile(int tile, int halo, int multiple) {
        int minimum = minTile(halo, multiple);
        if (tile < minimum) {
            throw new FluoreconException("tile = " + tile + " is too small for this model: with its halo of " + halo
                    + " px on both sides and tiles in multiples of " + multiple + ", a tile must be at least "
                    + minimum + " px, and tiles near that size multiply the work. Use tile = " + minimum
                    + " or more, or leave tile unset (0) for the model's default.");
        }
    }

    /** Rounds {@code v} up to a multiple of {@code m}. */
    static int roundUp(int v, int m) {
        return ((v + m - 1) / m) * m;
    }

    private static int[] broadcast(String name, int[] v, int nd) {
        if (v == null || v.length == 0) {
            throw new IllegalArgumentException(name + " is empty");
        }
        if (v.length == nd) {
            return v.clone();
        }
        if (v.length == 1) {
            int[] out = new int[nd];
            Arrays.fill(out, v[0]);
            return out;
        }
        throw new IllegalArgumentException(name + " has " + v.length + " values for " + nd + " spatial axes");
    }

    /**
     * Source index that padded position {@code p} reads under NumPy "reflect" padding
     * with {@code padBefore} pixels before an axis of length {@code size}
     * (mirror without repeating the edge, period 2(size-1), constant when size is 1).
     */
    public static int reflectIndex(int p, int padBefore, int size) {
        if (size == 1) {
            return 0;
        }
        int period = 2 * (size - 1);
        int i = Math.floorMod(p - padBefore, period);
        return i < size ? i : period - i;
    }

    /** Source index for every padded position along one axis of the plan. */
    public static int[] reflectMap(int size, int padBefore, int padAfter) {
        int[] map = new int[padBefore + size + padAfter];
        for (int p = 0; p < map.length; p++) {
            map[p] = reflectIndex(p, padBefore, size);
        }
        return map;
    }

    /** 1-D reflect padding, as {@code numpy.pad(x, (before, after), mode="reflect")}. */
    public static float[] reflectPad(float[] x, int padBefore, int padAfter) {
        if (x.length == 0) {
            throw new IllegalArgumentException("cannot pad an empty array");
        }
        int[] map = reflectMap(x.length, padBefore, padAfter);
        float[] out = new float[map.length];
        for (int p = 0; p < map.length; p++) {
            out[p] = x[map[p]];
        }
        return out;
    }
}
