package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.macro.Interpreter;
import java.awt.GraphicsEnvironment;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.Job;
import org.fluorecon.core.Progress;
import org.fluorecon.core.TiffFiles;

/** The check-run-save-show flow and the error reporting shared by the commands. */
public final class Commands {
    private Commands() {
    }

    /** True in headless, macro, script or batch runs, where a modal dialog would hang or abort the caller. */
    public static boolean isBatch() {
        return GraphicsEnvironment.isHeadless() || Macro.getOptions() != null || Interpreter.isBatchMode();
    }

    /**
     * Reports {@code message}: a dialog in the GUI; in batch runs ({@link #isBatch()}) it goes to
     * the Log and is thrown as a {@link FluoreconException} with the same text.
     */
    public static void fail(String title, String message) {
        IJ.showProgress(1.0);
        IJ.showStatus("");
        if (isBatch()) {
            IJ.log(title + ": " + message);
            throw new FluoreconException(message);
        }
        IJ.error(title, message);
    }

    /** Checks {@code job}'s input; a {@link FluoreconException} with its message when it is bad. */
    public static void check(Job job) {
        if (!job.checkInput()) {
            throw new FluoreconException(job.getErrorMessage());
        }
    }

    /**
     * Processes {@code job}: true when it made its output; false when the user cancelled (reported
     * in the status bar and the Log); a {@link FluoreconException} when it failed.
     */
    public static boolean process(String title, Job job, Progress progress) {
        boolean ok;
        try {
            ok = job.process(progress);
        } finally {
            IJ.showProgress(1.0);
        }
        if (ok) {
            return true;
        }
        if (job.isCancelled()) {
            IJ.showStatus(job.getErrorMessage());
            IJ.log(title + ": " + job.getErrorMessage());
            return false;
        }
        throw new FluoreconException(job.getErrorMessage());
    }

    /** Writes {@code out} to the {@code save=} path, when one was given. */
    public static void save(ImagePlus out, String save) {
        save(out, save, "the result");
    }

    /** Writes {@code out} ({@code what}, for the message) to the {@code save=} path, when one was given. */
    public static void save(ImagePlus out, String save, String what) {
        if (save == null || save.isBlank()) {
            return;
        }
        try {
            TiffFiles.saveAtomic(out, Path.of(save.trim()));
        } catch (IOException e) {
            throw new FluoreconException("Cannot save " + what + " to " + save + ": " + e.getMessage(), e);
        }
    }

    /** Shows {@code out} with a display, and in macros (whose next lines expect it open). */
    public static void show(ImagePlus out, Params params) {
        if (!params.isHeadless() || IJ.isMacro() || Interpreter.isBatchMode()) {
            out.show();
        }
    }

    /** Item of every model choice that means "the file in model_file=". */
    public static final String FILE_CHOICE = "[file]";

    /**
     * The model a command's {@code model=} / {@code model_file=} options name.
     *
     * @param noModel the message when neither an installed model nor a file is given
     */
    public static Path resolveModel(String choice, String file, Map<String, Path> models, String noModel) {
        // Macro.getValue strips one pair of brackets, so "model=[file]" arrives as "file"
        boolean fileChoice = choice == null || choice.equals(FILE_CHOICE)
                || (choice.equals("file") && !models.containsKey("file"));
        if (fileChoice) {
            if (file.isEmpty()) {
                throw new FluoreconException(noModel);
            }
            return Path.of(file);
        }
        Path p = models.get(choice);
        if (p == null) {
            throw new FluoreconException("model = '" + choice + "' is not installed; installed: " + models.keySet()
                    + ". Use model=[file] model_file=/path/to/model.onnx for another file.");
        }
        return p;
    }
}
