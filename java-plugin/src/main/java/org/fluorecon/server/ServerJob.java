package org.fluorecon.server;

import ij.ImagePlus;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.Job;
import org.fluorecon.core.Progress;

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
        this.job = new JobSession(client, what);
        this.what = what;
        this.input = input;
    }

    /** Validates the image and settings; the spec sent to the server, or a {@link FluoreconException}. */
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
