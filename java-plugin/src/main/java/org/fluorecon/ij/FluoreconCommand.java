package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.Prefs;
import ij.WindowManager;
import ij.plugin.PlugIn;
import java.awt.GraphicsEnvironment;
import java.util.ArrayList;
import java.util.List;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.Job;
import org.fluorecon.core.LocalModelJob;
import org.fluorecon.core.OpenedFiles;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerConfig;
import org.fluorecon.server.ServerProcess;
import org.fluorecon.server.ServerJob;

/**
 * A command whose work is a {@link Job}, on the server or local: the scripting getters, the server
 * connection, progress with Esc cancel, and the error reporting, once. A subclass reads its
 * parameters in {@link #execute(ImagePlus)}, runs its job with {@link #runJob} and keeps its output.
 */
public abstract class FluoreconCommand implements PlugIn {
    protected final String title;
    protected final String label;
    protected ImagePlus image;
    protected ImagePlus result;
    protected String jobId;
    protected double[] progressShown = new double[0];
    private volatile StatusProgress running;
    private final List<Output<?>> outputs = new ArrayList<>();

    /**
     * @param title the title of dialogs and Log lines, e.g. "fluorecon Unmix"
     * @param label the status-line prefix, e.g. "Unmix"
     */
    protected FluoreconCommand(String title, String label) {
        this.title = title;
        this.label = label;
    }

    /** Image to process instead of the current one (for scripts). */
    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    /** The output image of the last successful run; null otherwise. */
    public ImagePlus getResult() {
        return result;
    }

    /** The server job of the last run (null when nothing was submitted, or for local work). */
    public String getJobId() {
        return jobId;
    }

    /** Progress fractions the last run showed (while a run is going on: those shown so far). */
    public double[] getProgressShown() {
        StatusProgress live = running;
        return live != null ? live.history() : progressShown.clone();
    }

    @Override
    public final void run(String arg) {
        result = null;
        jobId = null;
        progressShown = new double[0];
        for (Output<?> o : outputs) {
            o.set(null);
        }
        try {
            ImagePlus imp = image != null ? image : WindowManager.getCurrentImage();
            Commands.checkLastOpen(imp);
            OpenedFiles.check(imp);
            execute(imp);
        } catch (FluoreconException e) {
            Commands.fail(title, e.getMessage());
        } catch (RuntimeException e) {
            Commands.failUnexpected(title, e);
        }
    }

    /** A new output of this command's runs, forgotten when a run starts; for a field of the subclass. */
    protected final <T> Output<T> output() {
        Output<T> o = new Output<>();
        outputs.add(o);
        return o;
    }

    /**
     * Reads the parameters, runs the work and keeps its output; a {@link FluoreconException} is
     * reported as the command's error.
     *
     * @param imp the image set for scripts, else the current image (may be null)
     */
    protected abstract void execute(ImagePlus imp);

    /**
     * The server recorded in the user's config folder. Run from the menu with no server up, this
     * offers to start it (with the Python that Set up recorded) or to open Server… to set one up; in a
     * macro or headless it asks nothing and the job's error says how to start it.
     */
    protected static ServerClient server() {
        if (!Commands.isBatch() && !IJ.isMacro() && !GraphicsEnvironment.isHeadless() && ServerProcess.status() == null) {
            String python = ServerConfig.setupPython();
            if (python == null) {
                python = Prefs.get(Server_.PYTHON_PREF, "");
            }
            if (python.isEmpty()) {
                if (IJ.showMessageWithCancel("fluorecon", "This command needs the fluorecon server, and none is set "
                        + "up.\nOpen Server… to set it up now (a Python environment, a few minutes)?")) {
                    new Server_().run("");
                }
            } else if (IJ.showMessageWithCancel("fluorecon", "This command needs the fluorecon server, which is not "
                    + "running.\nStart it now with " + python + "?")) {
                IJ.showStatus("Starting the fluorecon server...");
                ServerProcess.start(python, 0, 90);
            }
        }
        return ServerClient.fromConfig();
    }

    /**
     * Checks and processes {@code job} with progress in the status bar (Esc cancels), after
     * showing {@code "<label>: <sending>..."}. True when it made its output; false when the user
     * cancelled. Keeps the progress shown and the server job's id whatever happens.
     */
    protected boolean runJob(Job job, String sending) {
        return runJob(job, null, label + ": " + sending + "...");
    }

    /**
     * Checks and processes a local model job (loading its model) after showing
     * {@code "<label>: loading model..."}; {@code unit} is what the status counts, e.g. "tile"
     * (null: a percentage). True when it made its output; false when the user cancelled.
     */
    protected boolean runLocal(Job job, String unit) {
        IJ.showStatus(label + ": loading model...");
        return runJob(job, unit, null);
    }

    private boolean runJob(Job job, String unit, String status) {
        Commands.check(job);
        IJ.resetEscape();
        StatusProgress progress = new StatusProgress(label, unit);
        if (status != null) {
            IJ.showStatus(status);
        }
        running = progress;
        try {
            boolean ok = Commands.process(title, job, progress);
            if (ok && job instanceof LocalModelJob) { // every local model run shows its input check
                LocalModelJob<?> local = (LocalModelJob<?>) job;
                Commands.reportOod(title, local.getOod(), local.getInput());
            }
            return ok;
        } finally {
            progressShown = progress.history();
            running = null;
            if (job instanceof ServerJob) {
                jobId = ((ServerJob<?>) job).getJobId();
            }
        }
    }

    /** Writes {@code out} to {@code save=} (when given) and keeps it as the result. */
    protected ImagePlus keep(ImagePlus out, String save) {
        Commands.save(out, save);
        result = out;
        return out;
    }

    /** "<label>: done" in the status line, and {@code out} shown (with a display or in a macro). */
    protected void done(ImagePlus out, Params params) {
        done(out, params, "");
    }

    /** "<label>: done" + {@code where} (e.g. " on CPUExecutionProvider") in the status line, and {@code out} shown. */
    protected void done(ImagePlus out, Params params, String where) {
        IJ.showStatus(label + ": done" + where);
        Commands.show(out, params);
    }
}
