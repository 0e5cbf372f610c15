package org.fluorecon.core;

import ij.ImagePlus;
import ij.io.FileInfo;
import ij.io.TiffDecoder;
import java.io.File;
import java.io.IOException;

/**
 * Files ImageJ opened without complaint but wrongly, caught where a command can see them: it reads
 * the TIFF header of the image's original file again (the directory only, not the pixels) and
 * refuses a file whose pages differ in size (ImageJ shows page 1 only), a file shorter than its
 * header says (ImageJ fills the missing pixels with zeros) and a 1-bit black-and-white image
 * (ImageJ shows it as 8-bit 0/255, not intensities).
 */
public final class OpenedFiles {
    private OpenedFiles() {
    }

    /** Throws {@link FluoreconException} when {@code imp} came from a TIFF ImageJ opened wrongly; else nothing. */
    public static void check(ImagePlus imp) {
        FileInfo opened = imp == null ? null : imp.getOriginalFileInfo();
        if (opened == null || opened.fileName == null || opened.directory == null || imp.changes) {
            return;
        }
        File file = new File(opened.directory, opened.fileName);
        String name = opened.fileName;
        if (!file.isFile() || !(name.toLowerCase().endsWith(".tif") || name.toLowerCase().endsWith(".tiff"))) {
            return;
        }
        if (opened.fileType == FileInfo.BITMAP) {
            throw new FluoreconException("File '" + name + "' is a 1-bit (black-and-white) image, which ImageJ shows "
                    + "as 8-bit 0/255; fluorecon models need the microscope's intensities. Open the original "
                    + "acquisition instead.");
        }
        FileInfo[] pages;
        try {
            pages = new TiffDecoder(opened.directory, opened.fileName).getTiffInfo();
        } catch (IOException | RuntimeException e) {
            return; // ImageJ opened it, so its own reader answered; nothing more to learn here
        }
        if (pages == null || pages.length == 0) {
            return;
        }
        checkPages(name, pages, imp.getStackSize());
        checkLength(name, pages, file.length());
    }

    private static void checkPages(String name, FileInfo[] pages, int planesOpened) {
        if (pages.length < 2 || planesOpened >= pages.length) {
            return;
        }
        StringBuilder sizes = new StringBuilder();
        boolean differ = false;
        for (int i = 0; i < pages.length; i++) {
            differ |= pages[i].width != pages[0].width || pages[i].height != pages[0].height
                    || pages[i].fileType != pages[0].fileType;
            if (i < 4) {
                sizes.append(i == 0 ? "" : ", ").append(pages[i].width).append('x').append(pages[i].height);
            }
        }
        if (pages.length > 4) {
            sizes.append(", ...");
        }
        if (differ) {
            throw new FluoreconException("File '" + name + "' has " + pages.length + " pages of different sizes or "
                    + "types (" + sizes + "); ImageJ opened page 1 only, so fluorecon would process part of the file. "
                    + "Save each page size as its own file and run on each.");
        }
    }

    private static void checkLength(String name, FileInfo[] pages, long fileLength) {
        long end = 0;
        for (FileInfo fi : pages) {
            if (fi.stripOffsets != null && fi.stripLengths != null) {
                for (int s = 0; s < Math.min(fi.stripOffsets.length, fi.stripLengths.length); s++) {
                    end = Math.max(end, (fi.stripOffsets[s] & 0xffffffffL) + (fi.stripLengths[s] & 0xffffffffL));
                }
            }
            if (fi.compression == FileInfo.COMPRESSION_NONE && wholeBytes(fi.fileType)) {
                long planes = Math.max(1, fi.nImages);
                end = Math.max(end, fi.getOffset() + planes * (long) fi.width * fi.height * fi.getBytesPerPixel()
                        + (planes - 1) * fi.getGap());
            }
        }
        if (end > fileLength) {
            throw new FluoreconException("File '" + name + "' is " + fileLength + " bytes but its header describes "
                    + end + " bytes of pixels: the file was cut off (an interrupted copy or download?), and ImageJ "
                    + "filled the missing pixels with zeros. Copy the file again.");
        }
    }

    /** Pixel types whose planes take exactly width × height × bytes-per-pixel bytes. */
    private static boolean wholeBytes(int fileType) {
        return fileType == FileInfo.GRAY8 || fileType == FileInfo.GRAY16_SIGNED || fileType == FileInfo.GRAY16_UNSIGNED
                || fileType == FileInfo.GRAY32_INT || fileType == FileInfo.GRAY32_UNSIGNED
                || fileType == FileInfo.GRAY32_FLOAT || fileType == FileInfo.GRAY64_FLOAT || fileType == FileInfo.RGB;
    }
}
