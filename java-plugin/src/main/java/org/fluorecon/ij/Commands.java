package org.fluorecon.ij;

import ij.IJ;
import ij.Macro;
import ij.macro.Interpreter;
import java.awt.GraphicsEnvironment;
import org.fluorecon.core.FluoreconException;

/** Error reporting shared by the commands. */
final class Commands {
    private Commands() {
    }

    /** True in headless, macro, script or batch runs, where a modal dialog would hang or abort the caller. */
    static boolean isBatch() {
        return GraphicsEnvironment.isHeadless() || Macro.getOptions() != null || Interpreter.isBatchMode();
    }

    /**
     * Reports {@code message}: a dialog in the GUI; in batch runs ({@link #isBatch()}) it goes to
     * the Log and is thrown as a {@link FluoreconException} with the same text.
     */
    static void fail(String title, String message) {
        IJ.showProgress(1.0);
        IJ.showStatus("");
        if (isBatch()) {
            IJ.log(title + ": " + message);
            throw new FluoreconException(message);
        }
        IJ.error(title, message);
    }
}
