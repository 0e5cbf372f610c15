package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.fluorecon.testutil.JsonValues;
import org.fluorecon.testutil.Vectors;
import org.junit.jupiter.api.Test;

class TilingTest {

    @Test
    void sharedTilingVectors() throws Exception {
        Map<String, Object> root = JsonValues.obj(Vectors.json("tiling.json"));
        int n = 0;
        for (Object o : JsonValues.arr(root.get("cases"))) {
            Map<String, Object> c = JsonValues.obj(o);
            Tiling.Plan p = Tiling.plan(JsonValues.ints(c.get("shape")), JsonValues.ints(c.get("tile")), JsonValues.ints(c.get("halo")),
                    ints(c.get("multiple")), ints(c.get("scale")));
            Map<String, Object> e = JsonValues.obj(c.get("expected"));
            String id = "case " + n + " " + c;
            assertArrayEquals(JsonValues.ints(e.get("tile")), p.tile, id);
            assertArrayEquals(JsonValues.ints(e.get("halo")), p.halo, id);
            assertArrayEquals(JsonValues.ints(e.get("core")), p.core, id);
            assertArrayEquals(JsonValues.ints(e.get("count")), p.count, id);
            assertArrayEquals(JsonValues.ints(e.get("pad_before")), p.padBefore, id);
            assertArrayEquals(JsonValues.ints(e.get("pad_after")), p.padAfter, id);
            n++;
        }
        assertTrue(n >= 5, "expected several tiling cases, got " + n);
    }

    @Test
    void sharedTileMinimumVectors() throws Exception {
        Map<String, Object> root = JsonValues.obj(Vectors.json("tile_minimum.json"));
        int n = 0;
        for (Object o : JsonValues.arr(root.get("cases"))) {
            Map<String, Object> c = JsonValues.obj(o);
            int tile = ((Number) c.get("tile")).intValue();
            int halo = ((Number) c.get("halo")).intValue();
            int multiple = ((Number) c.get("multiple")).intValue();
            assertEquals(((Number) c.get("minimum")).intValue(), Tiling.minTile(halo, multiple), c.toString());
            if (Boolean.TRUE.equals(c.get("refused"))) {
                FluoreconException e = assertThrows(FluoreconException.class,
                        () -> Tiling.checkRequestedTile(tile, halo, multiple), c.toString());
                assertEquals(c.get("message"), e.getMessage());
            } else {
                Tiling.checkRequestedTile(tile, halo, multiple);
            }
            n++;
        }
        assertTrue(n >= 10, "expected the tile-minimum cases, got " + n);
    }

    private static int[] ints(Object o) {
        return o instanceof Number ? new int[] {((Number) o).intValue()} : JsonValues.ints(o);
    }

    @Test
    void sharedReflectVectors() throws Exception {
        Map<String, Object> root = JsonValues.obj(Vectors.json("reflect.json"));
        int n = 0;
        for (Object o : JsonValues.arr(root.get("cases"))) {
            Map<String, Object> c = JsonValues.obj(o);
            float[] got = Tiling.reflectPad(JsonValues.floats(c.get("input")), ((Number) c.get("pad_before")).intValue(),
                    ((Number) c.get("pad_after")).intValue());
            assertArrayEquals(JsonValues.floats(c.get("expected")), got, 0f, c.toString());
            n++;
        }
        assertTrue(n >= 3);
    }

    @Test
    void roundsHaloAndTileUpToTheMultiple() {
        // H 10 -> 16, T 64 -> 64, core 32, S 100 -> 4 tiles, padding 16 before, 4*32-100+16 after
        Tiling.Plan p = Tiling.plan(new int[] {100}, new int[] {64}, new int[] {10}, new int[] {16}, new int[] {1});
        assertArrayEquals(new int[] {64}, p.tile);
        assertArrayEquals(new int[] {16}, p.halo);
        assertArrayEquals(new int[] {32}, p.core);
        assertArrayEquals(new int[] {4}, p.count);
        assertArrayEquals(new int[] {16}, p.padBefore);
        assertArrayEquals(new int[] {44}, p.padAfter);
    }

    @Test
    void coreIsAtLeastOneMultiple() {
        Tiling.Plan p = Tiling.plan(new int[] {200}, new int[] {16}, new int[] {8}, new int[] {8}, new int[] {1});
        assertEquals(24, p.tile[0]); // 2*8 + 8
        assertEquals(8, p.core[0]);
        assertEquals(25, p.count[0]);
    }

    @Test
    void wholeImageWhenTheTileCoversIt() {
        Tiling.Plan p = Tiling.plan(new int[] {45, 70}, new int[] {1_000_000}, new int[] {8}, new int[] {2},
                new int[] {1});
        assertArrayEquals(new int[] {46 + 16, 70 + 16}, p.tile);
        assertArrayEquals(new int[] {1, 1}, p.count);
        assertEquals(1, p.numTiles());
        assertArrayEquals(new int[] {8 + 1, 8}, p.padAfter);
    }

    @Test
    void balancedTileKeepsTheCountAndRemovesPadding() {
        for (int size : new int[] {1, 7, 45, 100, 2048, 2049, 8192}) {
            for (int tile : new int[] {16, 64, 512, 1024}) {
                for (int halo : new int[] {0, 8, 32}) {
                    int[] s = {size};
                    Tiling.Plan asked = Tiling.plan(s, new int[] {tile}, new int[] {halo}, new int[] {4}, new int[] {1});
                    int b = Tiling.balancedTile(size, tile, halo, 4);
                    Tiling.Plan bal = Tiling.plan(s, new int[] {b}, new int[] {halo}, new int[] {4}, new int[] {1});
                    String id = size + "/" + tile + "/" + halo;
                    assertEquals(asked.count[0], bal.count[0], id);
                    assertTrue(bal.tile[0] <= asked.tile[0], id);
                    assertEquals(b, bal.tile[0], id); // already a valid tile: plan keeps it
                    assertTrue(bal.padAfter[0] <= asked.padAfter[0], id);
                }
            }
        }
        assertEquals(476, Tiling.balancedTile(2048, 512, 32, 4));
    }

    @Test
    void outputShapeFollowsScale() {
        Tiling.Plan p = Tiling.plan(new int[] {10, 12}, new int[] {8}, new int[] {2}, new int[] {2}, new int[] {2, 3});
        assertArrayEquals(new int[] {20, 36}, p.outputShape());
    }

    @Test
    void reflectMatchesNumpyForLongPads() {
        // np.pad(np.arange(4.), (9, 11), mode="reflect")
        float[] expected = {3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2};
        assertArrayEquals(expected, Tiling.reflectPad(new float[] {0, 1, 2, 3}, 9, 11), 0f);
        assertArrayEquals(new float[] {5, 5, 5, 5}, Tiling.reflectPad(new float[] {5}, 2, 1), 0f);
    }

    @Test
    void rejectsBadParameters() {
        assertThrows(IllegalArgumentException.class,
                () -> Tiling.plan(new int[] {0, 5}, new int[] {8}, new int[] {0}, new int[] {1}, new int[] {1}));
        assertThrows(IllegalArgumentException.class,
                () -> Tiling.plan(new int[] {5, 5}, new int[] {8, 8, 8}, new int[] {0}, new int[] {1}, new int[] {1}));
    }
}
