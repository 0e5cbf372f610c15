package org.fluorecon.server;

import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.Job;
import org.fluorecon.core.Progress;

/**
 * A server job on a file too large to open in ImageJ: the server reads {@code input} and writes {@code output}
 * block by block ({@code POST /v1/jobs/local}, {@code fluorecon.server.local}); this job follows its progress and
 * stops it on Esc (the server then leaves no output). Nothing is uploaded or downloaded.
 */
public final class LocalFileJob implements Job {
    private final ServerClient client;
    private final Map<String, Object> spec;
    private final String input;
    private final String output;
    private final String what;
    private String errorMessage = "";
    private boolean cancelled;
    private String jobId;
    private String message = "";

    public LocalFileJob(ServerClient client, Map<String, Object> spec, String input, String output, String what) {
        this.client = client;
        this.spec = spec;
        this.input = input;
        this.output = output;
        this.what = what;
    }

    @Override
    public boolean checkInput() {
        if (input == null || input.isBlank() || output == null || output.isBlank()) {
            errorMessage = "Process file needs file=/path/to/input and save=/path/to/output (.zarr or .tif).";
            return false;
        }
        return true;
    }

    @Override
    public boolean process(Progress progress) {
        try {
            JobStatus job = client.submitLocal(spec, input, output);
            jobId = job.id;
            while (job.isActive()) {
                if (progress.isCancelled()) {
                    client.cancel(job.id);
                    cancelled = true;
                    errorMessage = what + " was cancelled; the server job " + job.id + " was stopped and no output "
                            + "was made.";
                    return false;
                }
                progress.update(Math.round(job.progress * 1000), 1000);
                Thread.sleep(100);
                job = client.status(job.id);
            }
            message = job.message;
            if (!job.succeeded()) {
                errorMessage = "The server job " + job.id + " " + job.state
                        + (job.message.isEmpty() ? "." : ": " + job.message);
                return false;
            }
            progress.update(1000, 1000);
            try {
                client.cancel(job.id); // a finished job: deletes its record's folder on the server
            } catch (ServerException e) {
                // the output is written; a leftover job folder on the server is harmless
            }
            return true;
        } catch (ServerException e) {
            throw new FluoreconException(e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            errorMessage = what + " was interrupted.";
            return false;
        }
    }

    @Override
    public boolean isCancelled() {
        return cancelled;
    }

    @Override
    public String getErrorMessage() {
        return errorMessage;
    }

    public String getJobId() {
        return jobId;
    }

    /** The server's summary of the finished job, e.g. "Wrote /data/out.zarr.". */
    public String getMessage() {
        return message;
    }
}
