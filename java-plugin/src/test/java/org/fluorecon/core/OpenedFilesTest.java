package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OpenedFilesTest {
    @TempDir
    Path tmp;

    @Test
    void aWholeFileAndAnImageWithoutAFilePass() {
        ImagePlus imp = IJ.createImage("ramp", "16-bit ramp", 40, 30, 3);
        OpenedFiles.check(imp);
        OpenedFiles.check(null);
        Path file = tmp.resolve("whole.tif");
        IJ.saveAsTiff(imp, file.toString());
        ImagePlus opened = IJ.openImage(file.toString());
        assertEquals(3, opened.getStackSize());
        OpenedFiles.check(opened);
    }

    @Test
    void aCutOffFileIsRefused() throws Exception {
        Path file = tmp.resolve("cut.tif");
        IJ.saveAsTiff(IJ.createImage("ramp", "16-bit ramp", 64, 64, 1), file.toString());
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(bytes, 2000));
        ImagePlus opened = IJ.openImage(file.toString());
        FluoreconException e = assertThrows(FluoreconException.class, () -> OpenedFiles.check(opened));
        assertTrue(e.getMessage().startsWith("File 'cut.tif' is 2000 bytes but its header describes "), e.getMessage());
        assertTrue(e.getMessage().contains("the file was cut off"), e.getMessage());
    }

    @Test
    void pagesOfDifferentSizesAreRefused() throws Exception {
        Path file = tmp.resolve("pages.tif");
        Files.write(file, twoPages(new int[] {16, 12}, new int[] {8, 6}));
        ImagePlus opened = IJ.openImage(file.toString());
        assertEquals(1, opened.getStackSize()); // what ImageJ makes of it: page 1 only
        FluoreconException e = assertThrows(FluoreconException.class, () -> OpenedFiles.check(opened));
        assertEquals("File 'pages.tif' has 2 pages of different sizes or types (16x12, 8x6); ImageJ opened page 1 "
                + "only, so fluorecon would process part of the file. Save each page size as its own file and run "
                + "on each.", e.getMessage());
    }

    /** A little-endian 8-bit TIFF with one page per {width, height}. */
    private static byte[] twoPages(int[]... sizes) {
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 'I').put((byte) 'I').putShort((short) 42).putInt(8);
        int pos = 8;
        for (int p = 0; p < sizes.length; p++) {
            int w = sizes[p][0];
            int h = sizes[p][1];
            int ifdSize = 2 + 9 * 12 + 4;
            int data = pos + ifdSize;
            int next = p + 1 < sizes.length ? data + w * h : 0;
            b.position(pos);
            b.putShort((short) 9);
            entry(b, 256, 4, w);
            entry(b, 257, 4, h);
            entry(b, 258, 3, 8);
            entry(b, 259, 3, 1);
            entry(b, 262, 3, 1);
            entry(b, 273, 4, data);
            entry(b, 277, 3, 1);
            entry(b, 278, 4, h);
            entry(b, 279, 4, w * h);
            b.putInt(next);
            for (int i = 0; i < w * h; i++) {
                b.put((byte) i);
            }
            pos = b.position();
        }
        return Arrays.copyOf(b.array(), pos);
    }

    private static void entry(ByteBuffer b, int tag, int type, int value) {
        b.putShort((short) tag).putShort((short) type).putInt(1);
        if (type == 3) {
            b.putShort((short) value).putShort((short) 0);
        } else {
            b.putInt(value);
        }
    }
}
