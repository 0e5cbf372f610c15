package org.fluorecon.server;

import ij.ImagePlus;
import ij.io.FileSaver;
import ij.io.Opener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.Progress;

/**
 * One server job for an ImageJ image, whatever its task: upload the image with a spec, follow the
 * server's progress (Esc → the job is cancelled on the server), download and open the result,
 * then delete the finished job. Failures are {@link FluoreconException}s in the user's words.
 */
public final class JobSession {
    private final ServerClient client;
    private final String what;
    private long pollMillis = 100;
    private String jobId;
    private String serverVersion = "";
    private String message = "";
    private boolean cancelled;

    /**
     * @param client the server
     * @param what   the work in a user's words, e.g. "Unmixing" (for messages)
     */
    public JobSession(ServerClient client, String what) {
        this.client = client;
        this.what = what;
    }

    public JobSession pollEvery(long millis) {
        this.pollMillis = millis;
        return this;
    }

    /**
     * Runs {@code specJson} on {@code input}; the result as ImageJ opened it, or null when the user
     * cancelled ({@link #isCancelled()}, the server job is then stopped).
     */
    public ImagePlus run(ImagePlus input, String specJson, Progress progress) throws InterruptedException {
        return run(input, null, specJson, progress);
    }

    /**
     * As {@link #run(ImagePlus, String, Progress)}, with {@code psf} (when not null) sent as the
     * job's second file, the multipart part {@code psf}.
     */
    public ImagePlus run(ImagePlus input, ImagePlus psf, String specJson, Progress progress)
            throws InterruptedException {
        Progress p = progress == null ? Progress.NONE : progress;
        serverVersion = String.valueOf(client.health().get("version"));
        byte[] image = tiff(input);
        JobStatus job = client.submit(specJson, image, psf == null ? null : tiff(psf));
        jobId = job.id;
        while (job.isActive()) {
            if (p.isCancelled()) {
                client.cancel(job.id);
                cancelled = true;
                message = what + " was cancelled; the server job " + job.id + " was stopped and no output was made.";
                return null;
            }
            p.update(Math.round(job.progress * 1000), 1000);
            if (job.message != null && !job.message.isEmpty()) {
                p.message(job.message); // e.g. a training job's step and loss
            }
            Thread.sleep(pollMillis);
            job = client.status(job.id);
        }
        message = job.message;
        if (!job.succeeded()) {
            throw new FluoreconException("The server job " + job.id + " " + job.state
                    + (job.message.isEmpty() ? "." : ": " + job.message));
        }
        p.update(1000, 1000);
        ImagePlus out = open(client.result(job.id));
        try {
            client.cancel(job.id); // a finished job: deletes its files on the server
        } catch (ServerException e) {
            // the result is safe here; a leftover job folder on the server is harmless
        }
        return out;
    }

    private static byte[] tiff(ImagePlus imp) {
        byte[] bytes = new FileSaver(imp).serialize();
        if (bytes == null) {
            throw new FluoreconException("Could not write '" + imp.getTitle() + "' as TIFF for the server.");
        }
        return bytes;
    }

    static ImagePlus open(byte[] tiff) {
        // ImageJ's file reader is the one that knows every ImageJ/tifffile hyperstack layout.
        try {
            Path tmp = Files.createTempFile("fluorecon-result-", ".tif");
            try {
                Files.write(tmp, tiff);
                ImagePlus out = new Opener().openImage(tmp.toString());
                if (out == null) {
                    throw new FluoreconException("The server's result is not a TIFF ImageJ can open.");
                }
                // the temporary file is deleted below: Image > Show Info must not point to it
                out.setFileInfo(null);
                out.setTitle("server result"); // the task's finish() names it
                return out;
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new FluoreconException("Cannot read the server's result: " + e.getMessage(), e);
        }
    }

    /** The value of a {@code key = value} line of an Info text, or null. */
    public static String infoValue(String info, String key) {
        if (info == null) {
            return null;
        }
        for (String line : info.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0 && line.substring(0, eq).trim().equals(key)) {
                return line.substring(eq + 1).trim();
            }
        }
        return null;
    }

    public String getJobId() {
        return jobId;
    }

    public String getServerVersion() {
        return serverVersion;
    }

    /** The server's last message about the job (on success: its summary). */
    public String getMessage() {
        return message;
    }

    public boolean isCancelled() {
        return cancelled;
    }

    public String url() {
        return client.url();
    }
}
