package org.fluorecon.tasks.lightfield;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.fluorecon.core.Block;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.testutil.JsonValues;
import org.fluorecon.testutil.Vectors;
import org.junit.jupiter.api.Test;

class LightFieldViewsTest {

    @Test
    void viewsEqualPythonsOnTheSharedVector() throws Exception {
        Map<String, Object> v = JsonValues.obj(Vectors.json("lightfield_views.json"));
        int nnum = ((Number) v.get("nnum")).intValue();
        int width = ((Number) v.get("width")).intValue();
        int height = ((Number) v.get("height")).intValue();
        int ny = ((Number) v.get("lenslets_y")).intValue();
        int nx = ((Number) v.get("lenslets_x")).intValue();
        float[] lf = JsonValues.floats(v.get("lf"));
        float[] expected = JsonValues.floats(v.get("views"));
        assertTrue(ny != nx, "the vector should be non-square so that swapped axes fail");

        float[][] views = LightFieldViews.toChannels(lf, width, height, nnum);
        assertEquals(nnum * nnum, views.length);
        float[] flat = new float[expected.length];
        for (int c = 0; c < views.length; c++) {
            assertEquals(ny * nx, views[c].length);
            System.arraycopy(views[c], 0, flat, c * ny * nx, ny * nx);
        }
        assertArrayEquals(expected, flat, 0f);

        Block block = LightFieldViews.block(lf, width, height, nnum);
        assertEquals(nnum * nnum, block.channels);
        assertEquals(ny, block.height);
        assertEquals(nx, block.width);
        assertArrayEquals(views[nnum * nnum - 1], block.data[nnum * nnum - 1][0], 0f);
    }

    @Test
    void rectificationEqualsPythonsOnTheSharedVector() throws Exception {
        Map<String, Object> v = JsonValues.obj(JsonValues.obj(Vectors.json("lightfield_views.json")).get("rectify"));
        LensletGrid grid = LensletGrid.fromMap(JsonValues.obj(v.get("grid")));
        int width = ((Number) v.get("width")).intValue();
        int height = ((Number) v.get("height")).intValue();
        float[] expected = JsonValues.floats(v.get("rectified"));
        assertEquals(((Number) v.get("rectified_width")).intValue(), grid.rectifiedWidth());
        assertEquals(((Number) v.get("rectified_height")).intValue(), grid.rectifiedHeight());
        float[] got = grid.rectify(JsonValues.floats(v.get("raw")), width, height);
        assertArrayEquals(expected, got, 1e-4f);
        FluoreconException e = assertThrows(FluoreconException.class, () -> grid.rectify(new float[4], 2, 2));
        assertTrue(e.getMessage().contains("calibration is for " + width + "x" + height), e.getMessage());
    }

    @Test
    void centreViewTakesEveryLensletsCentrePixel() {
        int nnum = 3;
        int width = 6;
        int height = 3;
        float[] lf = new float[width * height];
        for (int i = 0; i < lf.length; i++) {
            lf[i] = i;
        }
        float[][] views = LightFieldViews.toChannels(lf, width, height, nnum);
        // lenslet (0, 0) centre: pixel (1, 1) = 7; lenslet (0, 1) centre: pixel (1, 4) = 10
        assertArrayEquals(new float[] {7f, 10f}, views[4], 0f);
        // view (v=2, u=0): pixels (2, 0) and (2, 3)
        assertArrayEquals(new float[] {12f, 15f}, views[6], 0f);
    }

    @Test
    void partialLensletsAreRefusedInWords() {
        FluoreconException e = assertThrows(FluoreconException.class,
                () -> LightFieldViews.toChannels(new float[10 * 11], 10, 11, 5));
        assertTrue(e.getMessage().contains("not a whole number of 5x5 lenslets"), e.getMessage());
        FluoreconException even = assertThrows(FluoreconException.class,
                () -> LightFieldViews.checkShape(12, 12, 4));
        assertTrue(even.getMessage().contains("odd"), even.getMessage());
    }
}
