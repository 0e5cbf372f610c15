package org.fluorecon.core;

import ij.ImagePlus;

/** The checks every command makes of an input image, in the user's words. */
public final class ImageChecks {
    private ImageChecks() {
    }

    /**
     * {@code imp} is open and 8-, 16- or 32-bit; otherwise a {@link FluoreconException}.
     *
     * @param what   the image in messages, e.g. "Raw stack"
     * @param toOpen what to open when none is, e.g. "a raw SIM stack"
     */
    public static ImagePlus checkOpen(ImagePlus imp, String what, String toOpen) {
        if (imp == null) {
            throw new FluoreconException("No image is open; open " + toOpen + " first.");
        }
        checkType(imp, what);
        return imp;
    }

    /** {@code imp} is 8-, 16- or 32-bit; otherwise a {@link FluoreconException} ({@code what}, e.g. "PSF image"). */
    public static void checkType(ImagePlus imp, String what) {
        int bits = imp.getBitDepth();
        if (bits == 24) {
            throw new FluoreconException(what + " '" + imp.getTitle() + "' is RGB; convert it with Image › Type › "
                    + "32-bit first.");
        }
        if (bits != 8 && bits != 16 && bits != 32) {
            throw new FluoreconException(what + " '" + imp.getTitle() + "' is " + bits + "-bit; convert it with "
                    + "Image › Type › 32-bit first.");
        }
    }
}
