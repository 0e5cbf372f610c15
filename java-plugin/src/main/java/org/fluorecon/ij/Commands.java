package org.fluorecon.ij;

import ij.IJ;
import org.fluorecon.core.FluoreconException;

/** Error reporting shared by the commands. */
final class Commands {
    private Commands() {
    }

    /**
     * Shows {@code message}: a dialog in the GUI; in headless, macro or batch runs (where a modal
     * dialog would hang or abort the caller) it goes to the Log and is thrown.
     */
    static void fail(Params params, String title, String message) {
        IJ.showProgress(1.0);
        IJ.showStatus("");
        if (params == null || params.isBatch()) {
            IJ.log(title + ": " + message);
            throw new FluoreconException(message);
        }
        IJ.error(title, message);
    }
}
