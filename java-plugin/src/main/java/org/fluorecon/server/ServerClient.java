package org.fluorecon.server;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;

/**
 * Client of the model server's API v1 (docs/DESIGN.md "Model server"), mirroring
 * {@code fluorecon.server.client}: health, submit (multipart {@code spec} + {@code image} TIFF
 * + optional {@code psf} TIFF), status, result, cancel. Every failure is a {@link ServerException}
 * whose message tells the user what to do.
 */
public final class ServerClient {
    public static final String START_HINT = "Start it with Plugins › fluorecon › Server… (action=start; the first time "
            + "action=[set up], which makes its Python environment), or with `fluorecon serve` in a terminal.";

    private final String url;
    private final Path tokenFile;
    private final HttpClient http;
    private final Duration timeout;

    /**
     * @param url       e.g. {@code http://127.0.0.1:8765}
     * @param tokenFile the file holding the bearer token
     */
    public ServerClient(String url, Path tokenFile) {
        this(url, tokenFile, Duration.ofSeconds(300));
    }

    public ServerClient(String url, Path tokenFile, Duration timeout) {
        this.url = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        this.tokenFile = tokenFile;
        this.timeout = timeout;
        // HTTP/1.1: uvicorn does not speak h2c, and the upgrade attempt only costs a round trip.
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
    }

    /** A client for the server recorded in the user's config folder ({@link ServerConfig}). */
    public static ServerClient fromConfig() {
        return new ServerClient(ServerConfig.url(), ServerConfig.tokenPath());
    }

    public String url() {
        return url;
    }

    public Path tokenFile() {
        return tokenFile;
    }

    /** {@code GET /v1/health} (no token): version, device, workers, queued, max_queue. */
    public Map<String, Object> health() {
        return json(send(HttpRequest.newBuilder(uri("/v1/health")).GET(), false, 200));
    }

    /** True when a server answers at {@link #url()}. */
    public boolean isRunning() {
        try {
            health();
            return true;
        } catch (ServerException e) {
            return false;
        }
    }

    /**
     * {@code POST /v1/jobs}.
     *
     * @param specJson the task spec as JSON (e.g. a DeconvolveSpec)
     * @param image    the image as TIFF bytes
     * @param psf      a measured PSF as TIFF bytes, or null
     */
    public JobStatus submit(String specJson, byte[] image, byte[] psf) {
        String boundary = "fluorecon-" + UUID.randomUUID();
        ByteArrayOutputStream body = new ByteArrayOutputStream(image.length + (psf == null ? 0 : psf.length) + 1024);
        field(body, boundary, "spec", null, "application/json", specJson.getBytes(StandardCharsets.UTF_8));
        field(body, boundary, "image", "image.tif", "image/tiff", image);
        if (psf != null) {
            field(body, boundary, "psf", "psf.tif", "image/tiff", psf);
        }
        body.writeBytes(("--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        HttpRequest.Builder b = HttpRequest.newBuilder(uri("/v1/jobs"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()));
        return JobStatus.of(json(send(b, true, 201)));
    }

    /**
     * {@code POST /v1/jobs/local}: a job on files of the server's machine, named by path instead of uploaded (for
     * files too large to open or send); the server writes {@code outputPath} itself, block by block.
     *
     * @param spec       the task spec (a deconvolve or denoise-classical spec)
     * @param inputPath  absolute path of the input (TIFF, OME-TIFF or OME-Zarr folder)
     * @param outputPath absolute path of the output (.zarr or .tif)
     */
    public JobStatus submitLocal(Map<String, Object> spec, String inputPath, String outputPath) {
        String body = Json.write(Json.object("spec", spec, "input_path", inputPath, "output_path", outputPath));
        HttpRequest.Builder b = HttpRequest.newBuilder(uri("/v1/jobs/local"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        return JobStatus.of(json(send(b, true, 201)));
    }

    /** {@code GET /v1/jobs/{id}}. */
    public JobStatus status(String id) {
        return JobStatus.of(json(send(HttpRequest.newBuilder(uri("/v1/jobs/" + id)).GET(), true, 200)));
    }

    /** {@code GET /v1/jobs/{id}/result}: the result TIFF. */
    public byte[] result(String id) {
        return send(HttpRequest.newBuilder(uri("/v1/jobs/" + id + "/result")).GET(), true, 200).body();
    }

    /** {@code DELETE /v1/jobs/{id}}: cancels an active job, deletes a finished one. */
    public JobStatus cancel(String id) {
        return JobStatus.of(json(send(HttpRequest.newBuilder(uri("/v1/jobs/" + id)).DELETE(), true, 200)));
    }

    private static void field(ByteArrayOutputStream out, String boundary, String name, String filename, String type,
                              byte[] content) {
        StringBuilder h = new StringBuilder();
        h.append("--").append(boundary).append("\r\n");
        h.append("Content-Disposition: form-data; name=\"").append(name).append('"');
        if (filename != null) {
            h.append("; filename=\"").append(filename).append('"');
        }
        h.append("\r\nContent-Type: ").append(type).append("\r\n\r\n");
        out.writeBytes(h.toString().getBytes(StandardCharsets.UTF_8));
        out.writeBytes(content);
        out.writeBytes("\r\n".getBytes(StandardCharsets.UTF_8));
    }

    private URI uri(String path) {
        try {
            return URI.create(url + path);
        } catch (IllegalArgumentException e) {
            throw new ServerException(0, "The server URL '" + url + "' is not valid; fix 'url' in "
                    + ServerConfig.serverFile() + " or restart the server.", e);
        }
    }

    private String token() {
        try {
            String t = new String(Files.readAllBytes(tokenFile), StandardCharsets.UTF_8).trim();
            if (!t.isEmpty()) {
                return t;
            }
        } catch (IOException e) {
            // fall through: no token means no server was started with this config folder
        }
        if (!isRunning()) {
            throw notRunning(null);
        }
        throw new ServerException(401, "No server token in " + tokenFile + "; restart the server or copy its "
                + "token file there.");
    }

    private HttpResponse<byte[]> send(HttpRequest.Builder b, boolean auth, int expected) {
        b.timeout(timeout);
        if (auth) {
            b.header("Authorization", "Bearer " + token());
        }
        HttpResponse<byte[]> r;
        try {
            r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (ConnectException | HttpConnectTimeoutException e) {
            throw notRunning(e);
        } catch (HttpTimeoutException e) {
            throw new ServerException(0, "The fluorecon server at " + url + " did not answer within "
                    + timeout.toSeconds() + " s; check it with Plugins › fluorecon › Server… or restart it.", e);
        } catch (IOException e) {
            if (e.getCause() instanceof ConnectException) {
                throw notRunning(e);
            }
            throw new ServerException(0, "Lost the connection to the fluorecon server at " + url + " ("
                    + e.getMessage() + "); check it with Plugins › fluorecon › Server….", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ServerException(0, "Interrupted while talking to the fluorecon server.", e);
        }
        if (r.statusCode() == expected) {
            return r;
        }
        if (r.statusCode() == 401) {
            throw new ServerException(401, "The server refused the token in " + tokenFile
                    + "; restart the server or copy its token file.");
        }
        String detail = detail(r.body());
        if (r.statusCode() == 503) {
            String retry = r.headers().firstValue("Retry-After").orElse("");
            throw new ServerException(503, (detail.isEmpty() ? "The server is busy." : detail)
                    + (retry.isEmpty() ? "" : " (retry after " + retry + " s)"));
        }
        if (detail.isEmpty()) {
            detail = "The server answered HTTP " + r.statusCode() + " to " + r.request().method() + " "
                    + r.request().uri().getPath() + ".";
        }
        throw new ServerException(r.statusCode(), detail);
    }

    private ServerException notRunning(Exception cause) {
        return new ServerException(0, "The fluorecon server is not running at " + url + ". " + START_HINT, cause);
    }

    private static String detail(byte[] body) {
        String text = new String(body, StandardCharsets.UTF_8).trim();
        try {
            Object d = Json.parseObject(text).get("detail");
            return d == null ? text : d.toString();
        } catch (IllegalArgumentException e) {
            return text.length() > 300 ? text.substring(0, 300) + "…" : text;
        }
    }

    private Map<String, Object> json(HttpResponse<byte[]> r) {
        try {
            return Json.parseObject(new String(r.body(), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new ServerException(r.statusCode(), "The server at " + url + " sent an answer that is not "
                    + "fluorecon's JSON; is another program using this port?", e);
        }
    }
}
