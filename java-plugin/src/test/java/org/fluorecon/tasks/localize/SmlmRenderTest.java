package org.fluorecon.tasks.localize;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class SmlmRenderTest {
    @Test
    void oneLocalisationIntegratesToOneAtItsPixel() {
        Localizations t = new Localizations();
        t.add(0, 505, 255, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, 20);
        int[] dims = new int[2];
        float[] img = SmlmRender.render(t, 500, 1000, 10, dims);
        assertEquals(50, dims[0]);
        assertEquals(100, dims[1]);
        double sum = 0;
        int arg = 0;
        for (int i = 0; i < img.length; i++) {
            sum += img[i];
            arg = img[i] > img[arg] ? i : arg;
        }
        assertEquals(1.0, sum, 1e-5);
        assertEquals(25 * 100 + 50, arg);
    }

    @Test
    void binsFollowNumpyHistogramEdges() {
        assertEquals(0, SmlmRender.bin(0, 5));
        assertEquals(4, SmlmRender.bin(5, 5)); // the last edge belongs to the last bin
        assertEquals(-1, SmlmRender.bin(5.0001, 5));
        assertEquals(-1, SmlmRender.bin(-1e-9, 5));
        assertEquals(-1, SmlmRender.bin(Double.NaN, 5));
    }

    @Test
    void gaussianKernelMatchesScipy() {
        // scipy.ndimage.gaussian_filter(delta, 1.0, mode="constant") centre and first neighbour
        double[] delta = new double[9 * 9];
        delta[4 * 9 + 4] = 1;
        double[] g = SmlmRender.gaussian(delta, 9, 9, 1.0);
        assertEquals(0.15915589174187972, g[4 * 9 + 4], 1e-12);
        assertEquals(0.09653292801535476, g[4 * 9 + 5], 1e-12);
    }
}
