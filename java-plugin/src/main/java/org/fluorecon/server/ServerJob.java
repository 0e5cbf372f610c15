package org.fluorecon.server;

import ij.ImagePlus;
import ij.measure.Calibration;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageChecks;
import org.fluorecon.core.Job;
import org.fluorecon.core.Progress;
import org.fluorecon.core.Version;

/**
 * A server task for ImageJ images: builds and checks the spec, runs one {@link JobSession} and
 * shapes its result; failures become {@link #getErrorMessage()} in the user's words. Public for
 * the commands' job id; only this package's tasks can extend it (the hooks are package-private).
 *
 * @param <T> the task's own class, for {@link #pollEvery} chaining
 */
public abstract class ServerJob<T extends ServerJob<T>> implements Job {
    protected final JobSession job;
    private final String what;
    /** The image the task sends (as {@link #upload()} does unless a task overrides it); may be null. */
    protected final ImagePlus input;
    private final String inputName;
    private final String toOpen;
    protected String errorMessage = "";
    protected String specJson;
    protected ImagePlus result;

    /**
     * @param what the work in a user's words, e.g. "Unmixing" (for messages)
     */
    protected ServerJob(ServerClient client, String what) {
        this(client, what, null);
    }

    /**
     * @param what  the work in a user's words, e.g. "Unmixing" (for messages)
     * @param input the image sent to the server
     */
    protected ServerJob(ServerClient client, String what, ImagePlus input) {
        this(client, what, input, null, null);
    }

    /**
     * A job on one open image, checked before {@link #spec()}: open, and 8-, 16- or 32-bit.
     *
     * @param what      the work in a user's words, e.g. "Unmixing" (for messages)
     * @param input     the image sent to the server
     * @param inputName the image in messages, e.g. "Raw stack"
     * @param toOpen    what to open when no image is, e.g. "a raw SIM stack"
     */
    protected ServerJob(ServerClient client, String what, ImagePlus input, String inputName, String toOpen) {
        this.job = new JobSession(client, what);
        this.what = what;
        this.input = input;
        this.inputName = inputName;
        this.toOpen = toOpen;
    }

    /** Validates the settings (and the image beyond the open/type check); the spec sent to the server, or a {@link FluoreconException}. */
    protected abstract Map<String, Object> spec();

    /** The image sent to the server (called after {@link #spec()} passed); {@link #input} by default. */
    protected ImagePlus upload() {
        return input;
    }

    /** A second image sent beside {@link #upload()} as the job's {@code psf} part; null (the default) for none. */
    protected ImagePlus uploadPsf() {
        return null;
    }

    /** The server's output made into the user's result (titles, calibration, provenance). */
    protected abstract ImagePlus finish(ImagePlus out);

    @SuppressWarnings("unchecked")
    public T pollEvery(long millis) {
        job.pollEvery(millis);
        return (T) this;
    }

    /** Validates the image and settings and builds the spec; false with {@link #getErrorMessage()}. */
    @Override
    public boolean checkInput() {
        try {
            if (toOpen != null) {
                ImageChecks.checkOpen(input, inputName, toOpen);
            }
            specJson = Json.write(spec());
            return true;
        } catch (FluoreconException e) {
            errorMessage = e.getMessage();
            return false;
        }
    }

    @Override
    public boolean process(Progress progress) {
        result = null;
        if (specJson == null && !checkInput()) {
            return false;
        }
        try {
            ImagePlus out = job.run(upload(), uploadPsf(), specJson, progress);
            if (out == null) {
                errorMessage = job.getMessage();
                return false;
            }
            result = finish(out);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            errorMessage = what + " was interrupted.";
        } catch (FluoreconException e) {
            errorMessage = e.getMessage();
        }
        return false;
    }

    /** The {@code server.url}, {@code server.version} and {@code server.job} lines of a result's Info. */
    protected String serverLines() {
        return "server.url = " + job.url() + "\n"
                + "server.version = " + job.getServerVersion() + "\n"
                + "server.job = " + job.getJobId() + "\n";
    }

    /** The title of what was sent, for the result's Info; {@link #input}'s by default. */
    protected String inputTitle() {
        return input == null ? "" : input.getTitle();
    }

    /**
     * A result's provenance, the same for every server task: {@code fluorecon.command},
     * {@code fluorecon.version}, {@code <key>.spec}, the task's own {@code lines}, the server lines
     * and {@code input.title}.
     *
     * @param command the command's name, e.g. "Multiview fusion"
     * @param key     the prefix of the task's own lines, e.g. "fuse"
     */
    protected String provenance(String command, String key, String... lines) {
        StringBuilder sb = new StringBuilder();
        sb.append("fluorecon.command = ").append(command).append('\n');
        sb.append("fluorecon.version = ").append(Version.get()).append('\n');
        sb.append(key).append(".spec = ").append(specJson).append('\n');
        for (String line : lines) {
            sb.append(line).append('\n');
        }
        sb.append(serverLines());
        sb.append("input.title = ").append(inputTitle()).append('\n');
        return sb.toString();
    }

    /** The input's calibration for a result on the same grid (a copy, without density calibration). */
    protected Calibration inputCalibration() {
        Calibration cal = input.getCalibration().copy();
        cal.disableDensityCalibration();
        return cal;
    }

    /**
     * Refuses a result that is not {@code w}×{@code h}×{@code n}; {@code expected} names that size
     * in the message, e.g. "the input's".
     */
    protected static void checkResultSize(ImagePlus out, int w, int h, int n, String expected) {
        if (out.getWidth() != w || out.getHeight() != h || out.getStackSize() != n) {
            throw new FluoreconException("The server's result is " + out.getWidth() + "x" + out.getHeight() + "x"
                    + out.getStackSize() + ", not " + expected + " " + w + "x" + h + "x" + n + ".");
        }
    }

    /**
     * Sets {@code out}'s Info to {@code info} followed by the server's own Info, one
     * {@code server.info = } line each, and resets its display range.
     */
    protected static ImagePlus withInfo(ImagePlus out, String info) {
        String serverInfo = out.getInfoProperty();
        out.setProperty("Info", info + (serverInfo == null ? "" : "server.info = " + serverInfo.trim()
                .replace("\n", "\nserver.info = ") + "\n"));
        out.getProcessor().resetMinAndMax();
        return out;
    }

    @Override
    public String getErrorMessage() {
        return errorMessage;
    }

    @Override
    public boolean isCancelled() {
        return job.isCancelled();
    }

    /** The result after a successful {@link #process}; null otherwise. */
    public ImagePlus getResult() {
        return result;
    }

    public String getSpecJson() {
        return specJson;
    }

    public String getJobId() {
        return job.getJobId();
    }
}
