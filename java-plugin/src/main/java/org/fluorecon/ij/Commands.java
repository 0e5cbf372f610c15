package org.fluorecon.ij;

import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.Macro;
import ij.gui.NonBlockingGenericDialog;
import ij.io.FileInfo;
import ij.io.OpenDialog;
import ij.measure.ResultsTable;
import ij.macro.Interpreter;
import java.awt.GraphicsEnvironment;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.fluorecon.core.AtomicFiles;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.Job;
import org.fluorecon.core.OodReport;
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

    /** System property: {@code true} makes a failed command end the JVM with exit status 1, {@code false} never. */
    static final String EXIT_ON_ERROR = "fluorecon.exit_on_error";

    /**
     * Reports an expected error, {@code message}, the way ImageJ commands do:
     * <ul>
     * <li>with a display and no macro running: an error dialog;</li>
     * <li>in a macro ({@code run("Denoise...", ...)}): the message in the Log, no stack trace, and the
     * macro aborted, so its next line does not run. In ImageJ's {@code -batch} launcher, which exits 0
     * after any macro, the JVM then exits with status 1 (see {@link #exitsOnError()});</li>
     * <li>called as a Java object (scripts, tests): the message in the Log and thrown as a
     * {@link FluoreconException} with the same text, for the caller to handle.</li>
     * </ul>
     */
    public static void fail(String title, String message) {
        IJ.showProgress(1.0);
        IJ.showStatus("");
        if (!isBatch()) {
            IJ.error(title, message);
            return;
        }
        if (message.startsWith("No image is open")) {
            message = withOpenerError(message); // in a macro, open() may have failed without stopping it
        }
        IJ.log(title + ": " + message);
        abort(message);
    }

    /**
     * Reports an unexpected exception (a bug, not the user's input) as {@link #fail} does, with its
     * stack trace in the Log so that it can be reported.
     */
    static void failUnexpected(String title, RuntimeException e) {
        if (Macro.MACRO_CANCELED.equals(e.getMessage())) {
            throw e;
        }
        IJ.showProgress(1.0);
        IJ.showStatus("");
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        String message = "unexpected error (please report it with the trace below): " + e;
        if (!isBatch()) {
            IJ.log(title + ": " + trace);
            IJ.error(title, message);
            return;
        }
        IJ.log(title + ": " + message + "\n" + trace);
        abort(message);
    }

    /** Ends the run after a logged error: exit status 1, or the macro aborted, or a FluoreconException. */
    private static void abort(String message) {
        if (exitsOnError()) {
            System.out.flush();
            System.exit(1);
        }
        Interpreter macro = Interpreter.getInstance();
        if (!IJ.macroRunning()) {
            throw new FluoreconException(message); // called as a Java object: the caller gets the message
        }
        if (macro != null) {
            // the public way to stop an interpreter without its modal "Macro Error" dialog: the macro ends
            // at its next statement, and the interpreter keeps the message (getErrorMessage()) for a runner
            macro.setIgnoreErrors(true);
            macro.abort(message);
        }
        Macro.abort(); // a script's IJ.run(...) throws "Macro canceled" (ImageJ's convention)
        throw new RuntimeException(Macro.MACRO_CANCELED); // unwinds the command; ImageJ prints nothing for it
    }

    /**
     * True when a failure should end the JVM with status 1: property {@value #EXIT_ON_ERROR} when set,
     * else in a macro run by ImageJ's own {@code -batch} launcher ({@code ij.ImageJ -batch m.ijm}), which
     * ends the JVM with status 0 right after the macro whatever happened, so only the command can make
     * the failure visible to the shell. Never in a GUI, a script or a JVM someone else started.
     */
    static boolean exitsOnError() {
        String forced = System.getProperty(EXIT_ON_ERROR);
        if (forced != null && !forced.isBlank()) {
            return Boolean.parseBoolean(forced.trim());
        }
        if (IJ.getInstance() != null || Interpreter.getInstance() == null) {
            return false;
        }
        String[] args = ImageJ.getArgs();
        return args != null && Arrays.stream(args).anyMatch(a -> a != null && a.startsWith("-batch"));
    }

    /** ImageJ's error pending when the command started on this thread (read once: reading clears it). */
    private static final ThreadLocal<String> PENDING_ERROR = new ThreadLocal<>();

    /**
     * At the start of a command in a macro: takes the error ImageJ reported since the last command
     * ({@code IJ.getErrorMessage()}) and refuses to go on when it says that the macro's last
     * {@code open()} failed while another image is current. In {@code -batch} and headless macros a
     * failed {@code open()} does not stop the macro (a macro started from the GUI is aborted), so the
     * command would otherwise process the image that was open before, under the new file's output name.
     */
    static void checkLastOpen(ImagePlus imp) {
        String error = isBatch() ? IJ.getErrorMessage() : null;
        PENDING_ERROR.set(error);
        String name = OpenDialog.getLastName();
        if (error == null || imp == null || name == null || name.isEmpty() || !error.contains(name)) {
            return;
        }
        String dir = OpenDialog.getLastDirectory();
        FileInfo fi = imp.getOriginalFileInfo();
        boolean same = fi != null && name.equals(fi.fileName) && dir != null && fi.directory != null
                && Path.of(dir).toAbsolutePath().normalize().equals(Path.of(fi.directory).toAbsolutePath().normalize());
        if (!same) {
            throw new FluoreconException("ImageJ could not open '" + name + "' (" + oneLine(error) + "), so the "
                    + "current image is still '" + imp.getTitle() + "'; fluorecon will not process it in that "
                    + "file's place. Fix or remove '" + name + "'.");
        }
    }

    /** "No image is open" plus the error ImageJ's opener reported, when it reported one (open() failed). */
    private static String withOpenerError(String message) {
        String opener = PENDING_ERROR.get();
        if (opener == null || opener.isBlank()) {
            return message;
        }
        return message + " (ImageJ's last error: " + oneLine(opener) + ")";
    }

    private static String oneLine(String text) {
        return text.replaceAll("\\s+", " ").trim();
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

    /**
     * Shows a local model run's out-of-distribution verdict in the Log (nothing when every input is
     * in distribution). With a display and no macro, an out-of-distribution input also gets a
     * non-modal dialog whose button runs Train on this image… on {@code input}; headless and macro
     * runs only log (the Log line carries the macro call).
     */
    public static void reportOod(String title, OodReport report, ImagePlus input) {
        for (String line : report.logLines()) {
            IJ.log(title + ": " + line);
        }
        if (!report.outOfDistribution() || isBatch() || input == null) {
            return;
        }
        Thread offer = new Thread(() -> {
            NonBlockingGenericDialog gd = new NonBlockingGenericDialog(title + ": input out of distribution");
            gd.addMessage("'" + input.getTitle() + "' is unlike the model's training data:\n" + report.summary()
                    + "\nThe result may contain invented or missing structure (details in the Log and the output's "
                    + "Info).\n\nNoise2Void trained on this image needs no training data and cannot be out of "
                    + "distribution.");
            gd.setOKLabel("Train on this image…");
            gd.setCancelLabel("Keep the result");
            gd.showDialog();
            if (gd.wasOKed()) {
                IJ.run(input, "Train on this image...", "");
            }
        }, "fluorecon OOD offer");
        offer.setDaemon(true);
        offer.start();
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

    /**
     * Writes {@code table} ({@code what}, for the message) as CSV to {@code path} (a {@code table=} option),
     * when one was given, through a temporary file (no partial file): one header line of the column
     * headings (with {@code Label} first when the table has row labels), then one line per row, numbers at
     * full precision. Headless, this is how a macro gets a command's table.
     */
    public static void saveTable(ResultsTable table, String path, String what) {
        if (path == null || path.isBlank() || table == null) {
            return;
        }
        try {
            AtomicFiles.writeText(Path.of(path.trim()), csv(table));
        } catch (IOException e) {
            throw new FluoreconException("Cannot save " + what + " to " + path + ": " + e.getMessage(), e);
        }
    }

    /** {@code table} as CSV text (see {@link #saveTable}). */
    public static String csv(ResultsTable table) {
        String[] headings = table.getHeadings();
        StringBuilder out = new StringBuilder();
        java.util.List<String> columns = new java.util.ArrayList<>();
        for (String h : headings) {
            if (!h.isBlank()) {
                columns.add(h);
            }
        }
        boolean labels = false;
        for (int row = 0; row < table.size() && !labels; row++) {
            labels = table.getLabel(row) != null;
        }
        java.util.List<String> head = new java.util.ArrayList<>();
        if (labels) {
            head.add("Label");
        }
        for (String c : columns) {
            head.add(quote(c));
        }
        out.append(String.join(",", head)).append('\n');
        for (int row = 0; row < table.size(); row++) {
            java.util.List<String> cells = new java.util.ArrayList<>();
            if (labels) {
                String l = table.getLabel(row);
                cells.add(quote(l == null ? "" : l));
            }
            for (String c : columns) {
                double v = table.getValue(c, row);
                String text = table.getStringValue(c, row);
                cells.add(Double.isNaN(v) && text != null && !text.equals("NaN") ? quote(text) : number(v));
            }
            out.append(String.join(",", cells)).append('\n');
        }
        return out.toString();
    }

    private static String number(double v) {
        if (Double.isNaN(v)) {
            return "";
        }
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    private static String quote(String s) {
        return s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
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
