package org.fluorecon.tasks.unmix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.Line;
import ij.gui.OvalRoi;
import ij.gui.Roi;
import ij.process.FloatProcessor;
import org.fluorecon.core.FluoreconException;
import org.junit.jupiter.api.Test;

/** Spectra from ROIs: means over the ROI mask, offset and background removed, columns summing to 1. */
class RoiSpectraTest {
    /** 3 channels; left half holds spectrum (1, 2, 1)·10, right half (0, 1, 3)·10, plus 5 everywhere. */
    private static ImagePlus image() {
        ImageStack st = new ImageStack(20, 10);
        double[][] spectra = {{1, 2, 1}, {0, 1, 3}};
        for (int c = 0; c < 3; c++) {
            float[] px = new float[200];
            for (int y = 0; y < 10; y++) {
                for (int x = 0; x < 20; x++) {
                    px[y * 20 + x] = (float) (5 + 10 * spectra[x < 10 ? 0 : 1][c]);
                }
            }
            st.addSlice(new FloatProcessor(20, 10, px));
        }
        ImagePlus imp = new ImagePlus("lambda", st);
        imp.setDimensions(3, 1, 1);
        return imp;
    }

    @Test
    void spectraAreNormalisedMeansAboveOffsetAndBackground() {
        Roi left = new Roi(1, 1, 5, 5);
        left.setName("green");
        Roi right = new OvalRoi(12, 2, 6, 6);
        RoiSpectra r = RoiSpectra.measure(image(), new Roi[] {left, right}, 5, false);
        assertEquals(java.util.List.of("green", "roi2"), r.names);
        assertNull(r.background);
        assertEquals(0.25, r.mixing[0][0], 1e-12);
        assertEquals(0.5, r.mixing[1][0], 1e-12);
        assertEquals(0.75, r.mixing[2][1], 1e-12);
        // the last ROI as background: spectrum (0,1,3)·10 above the offset is removed from the first
        RoiSpectra b = RoiSpectra.measure(image(), new Roi[] {left, right}, 0, true);
        assertEquals(1, b.names.size());
        assertEquals(5, b.background[0], 1e-9);
        assertEquals(35, b.background[2], 1e-9);
        // (15, 25, 15) − (5, 15, 35) → (10, 10, 0) → (0.5, 0.5, 0)
        assertEquals(0.5, b.mixing[0][0], 1e-12);
        assertEquals(0.0, b.mixing[2][0], 1e-12);
    }

    @Test
    void errorsNameTheRoi() {
        Roi dark = new Roi(1, 1, 3, 3);
        dark.setName("dark");
        FluoreconException e = assertThrows(FluoreconException.class,
                () -> RoiSpectra.measure(image(), new Roi[] {dark}, 1000, false));
        assertTrue(e.getMessage().contains("ROI 'dark' has no signal"), e.getMessage());
        e = assertThrows(FluoreconException.class,
                () -> RoiSpectra.measure(image(), new Roi[] {new Line(0, 0, 5, 5)}, 0, false));
        assertTrue(e.getMessage().contains("area ROIs"), e.getMessage());
        e = assertThrows(FluoreconException.class, () -> RoiSpectra.measure(image(), new Roi[0], 0, false));
        assertTrue(e.getMessage().contains("ROI Manager"), e.getMessage());
        e = assertThrows(FluoreconException.class, () -> RoiSpectra.measure(image(),
                new Roi[] {new Roi(0, 0, 2, 2), new Roi(0, 0, 2, 2), new Roi(0, 0, 2, 2), new Roi(0, 0, 2, 2)}, 0, false));
        assertTrue(e.getMessage().contains("at most one ROI per channel"), e.getMessage());
    }
}
