package org.fluorecon.core;

import ij.ImagePlus;
import ij.io.FileInfo;
import ij.io.FileSaver;
import ij.io.TiffEncoder;
import java.io.DataOutputStream;
import java.io.IOException;
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
        FileInfo fi = imp.getFileInfo();
        fi.info = imp.getInfoProperty();
        fi.description = new FileSaver(imp).getDescriptionString();
        fi.sliceLabels = imp.getStack().getSliceLabels();
        fi.properties = imp.getPropertiesAsArray();
        AtomicFiles.write(path, out -> new TiffEncoder(fi).write(new DataOutputStream(out)));
    }
}
