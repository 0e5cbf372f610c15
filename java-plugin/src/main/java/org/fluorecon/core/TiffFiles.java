package org.fluorecon.core;

import ij.ImagePlus;
import ij.io.FileInfo;
import ij.io.FileSaver;
import ij.io.TiffEncoder;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writes ImageJ TIFFs atomically: a temporary file in the same folder, then a rename. */
public final class TiffFiles {

    private TiffFiles() {
    }

    /**
     * Saves {@code imp} as an ImageJ (hyper)stack TIFF with its calibration and Info, without
     * renaming the image (FileSaver would retitle it after the temporary file).
     */
    public static void saveAtomic(ImagePlus imp, Path path) throws IOException {
        Path target = path.toAbsolutePath();
        Path dir = target.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IOException("Folder " + dir + " does not exist; create it or choose another save= path.");
        }
        FileInfo fi = imp.getFileInfo();
        fi.info = imp.getInfoProperty();
        fi.description = new FileSaver(imp).getDescriptionString();
        fi.sliceLabels = imp.getStack().getSliceLabels();
        fi.properties = imp.getPropertiesAsArray();
        Path tmp = AtomicFiles.tempBeside(target);
        try {
            try (OutputStream os = Files.newOutputStream(tmp);
                 DataOutputStream out = new DataOutputStream(new BufferedOutputStream(os, 1 << 20))) {
                new TiffEncoder(fi).write(out);
            }
            AtomicFiles.moveInto(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
