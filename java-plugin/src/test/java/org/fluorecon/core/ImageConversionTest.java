package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.measure.Calibration;
import ij.process.ShortProcessor;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageConversionTest {

    @Test
    void floatSlicesAreUsedWithoutCopy() {
        ImagePlus imp = IJ.createImage("f", "32-bit ramp", 16, 8, 3);
        assertSame(imp.getStack().getPixels(2), ImageConversion.toFloat(imp, 2));
    }

    @Test
    void eightAndSixteenBitBecomeUnsignedFloats() {
        assertArrayEquals(new float[] {0, 255, 128}, ImageConversion.toFloat(new byte[] {0, (byte) 255, (byte) 128}, 0),
                0f);
        assertArrayEquals(new float[] {0, 65535, 1000},
                ImageConversion.toFloat(new short[] {0, (short) 65535, 1000}, 0), 0f);
    }

    @Test
    void signedSixteenBitIsShifted() {
        ShortProcessor sp = new ShortProcessor(2, 1);
        sp.set(0, 0, 32768 - 5);
        sp.set(1, 0, 32768 + 7);
        ImagePlus imp = new ImagePlus("s", sp);
        Calibration cal = imp.getCalibration();
        cal.setSigned16BitCalibration();
        assertArrayEquals(new float[] {-5, 7}, ImageConversion.toFloat(imp, 1), 0f);
    }

    @Test
    void blocksFollowHyperstackOrder() {
        // 2 channels, 3 slices, 2 frames; value = stack index
        ImageStack st = new ImageStack(4, 3);
        for (int i = 0; i < 12; i++) {
            float[] p = new float[12];
            java.util.Arrays.fill(p, i);
            st.addSlice(null, p);
        }
        ImagePlus imp = new ImagePlus("h", st);
        imp.setDimensions(2, 3, 2);
        assertArrayEquals(new int[] {2, 3, 2}, ImageConversion.dimensions(imp));
        Block z = ImageConversion.block(imp, 1, -1, 1);
        assertEquals(3, z.depth);
        for (int k = 0; k < 3; k++) {
            assertEquals(1 + k * 2 + 6, z.data[0][k][0], 0f);
        }
        Block plane = ImageConversion.block(imp, 0, 2, 0);
        assertEquals(4, plane.data[0][0][5], 0f);
    }

    @Test
    void roundTripKeepsValuesDimensionsAndCalibration(@TempDir Path tmp) throws Exception {
        ImagePlus src = IJ.createImage("src", "16-bit ramp", 20, 10, 2, 3, 1);
        Calibration cal = src.getCalibration();
        cal.pixelWidth = 0.1;
        cal.pixelHeight = 0.1;
        cal.pixelDepth = 0.3;
        cal.setUnit("micron");
        int n = src.getStackSize();
        float[][] planes = new float[n][];
        for (int i = 0; i < n; i++) {
            planes[i] = ImageConversion.toFloat(src, i + 1).clone();
        }
        ImagePlus out = ImageConversion.toImagePlus("out", planes, 20, 10, 2, 3, 1, src, new int[] {1, 1, 1}, null);
        assertEquals(32, out.getBitDepth());
        assertArrayEquals(new int[] {20, 10, 2, 3, 1}, out.getDimensions());
        assertEquals(0.1, out.getCalibration().pixelWidth, 1e-12);
        assertEquals(0.3, out.getCalibration().pixelDepth, 1e-12);
        Path file = tmp.resolve("out.tif");
        TiffFiles.saveAtomic(out, file);
        ImagePlus back = IJ.openImage(file.toString());
        assertArrayEquals(new int[] {20, 10, 2, 3, 1}, back.getDimensions());
        assertEquals("micron", back.getCalibration().getUnit());
        assertEquals(0.1, back.getCalibration().pixelWidth, 1e-9);
        assertEquals(0.3, back.getCalibration().pixelDepth, 1e-9);
        assertEquals("out", out.getTitle()); // saving must not retitle the image
        for (int i = 1; i <= n; i++) {
            short[] orig = (short[]) src.getStack().getPixels(i);
            float[] got = (float[]) back.getStack().getPixels(i);
            for (int k = 0; k < orig.length; k++) {
                assertEquals(orig[k] & 0xffff, got[k], 0f);
            }
        }
        assertEquals(1, java.nio.file.Files.list(tmp).count(), "no temporary file left behind");
        // An ordinary file, not the owner-only 0600 of a temporary file (others in the lab read results).
        assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(
                java.nio.file.Files.getPosixFilePermissions(file)));
    }

    @Test
    void upscaledOutputHasFinerPixels() {
        ImagePlus src = IJ.createImage("src", "32-bit", 4, 4, 1);
        src.getCalibration().pixelWidth = 0.2;
        src.getCalibration().pixelHeight = 0.2;
        ImagePlus out = ImageConversion.toImagePlus("o", new float[][] {new float[64]}, 8, 8, 1, 1, 1, src,
                new int[] {2, 2, 1}, null);
        assertEquals(0.1, out.getCalibration().pixelWidth, 1e-12);
    }
}
