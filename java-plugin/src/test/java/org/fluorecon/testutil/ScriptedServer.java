package org.fluorecon.testutil;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntToDoubleFunction;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;

/**
 * A scripted model server in the test JVM for the {@code Remote*} tasks: one job {@code j1} that
 * runs for {@link #runningPolls} status polls (progress {@link #progress}), then succeeds with
 * {@link #resultTiff} and {@link #doneMessage}. Records every request and the last upload. Its
 * token file is {@code <dir>/token}, so {@code dir} can serve as the plugin's config folder.
 */
public final class ScriptedServer implements AutoCloseable {
    public final List<String> requests = new CopyOnWriteArrayList<>();
    public final AtomicInteger polls = new AtomicInteger();
    /** The last {@code POST /v1/jobs} body (multipart, as ISO-8859-1 text). */
    public volatile String submitted = "";
    public volatile byte[] resultTiff;
    /** When set, {@code POST /v1/jobs} answers 422 with this detail. */
    public volatile String submitError;
    public volatile int runningPolls = 2;
    /** The progress of the n-th poll (n from 1) while the job runs. */
    public volatile IntToDoubleFunction progress = n -> 0.5;
    /** The succeeded job's message; null sends none. */
    public volatile String doneMessage = "Done.";

    private final HttpServer http;
    private final Path token;

    /** Starts the server; its token file goes into {@code dir}. */
    public ScriptedServer(Path dir) throws IOException {
        token = Files.writeString(dir.resolve("token"), "t\n");
        http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        http.createContext("/", this::handle);
        http.start();
    }

    /**
     * A client of a server nobody runs (port 9, no token file): for the checks a job makes before any upload, which
     * must refuse bad settings without contacting the server.
     */
    public static ServerClient unreachable() {
        return new ServerClient("http://127.0.0.1:9", Path.of("/nonexistent-token"));
    }

    public ServerClient client() {
        return new ServerClient(url(), token);
    }

    public String url() {
        return "http://127.0.0.1:" + http.getAddress().getPort();
    }

    @Override
    public void close() {
        http.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        String key = ex.getRequestMethod() + " " + ex.getRequestURI().getPath();
        requests.add(key);
        byte[] in = ex.getRequestBody().readAllBytes();
        String json;
        int status = 200;
        switch (key) {
            case "GET /v1/health":
                json = "{\"version\": \"0.1.0\", \"device\": \"cpu\"}";
                break;
            case "POST /v1/jobs":
                submitted = new String(in, StandardCharsets.ISO_8859_1);
                if (submitError != null) {
                    status = 422;
                    json = Json.write(Map.of("detail", submitError));
                } else {
                    status = 201;
                    json = "{\"id\": \"j1\", \"state\": \"queued\", \"progress\": 0}";
                }
                break;
            case "GET /v1/jobs/j1":
                int n = polls.incrementAndGet();
                json = n <= runningPolls
                        ? "{\"id\": \"j1\", \"state\": \"running\", \"progress\": " + progress.applyAsDouble(n) + "}"
                        : "{\"id\": \"j1\", \"state\": \"succeeded\", \"progress\": 1"
                        + (doneMessage == null ? "" : ", \"message\": " + Json.write(doneMessage)) + "}";
                break;
            case "GET /v1/jobs/j1/result":
                ex.sendResponseHeaders(200, resultTiff.length);
                ex.getResponseBody().write(resultTiff);
                ex.close();
                return;
            case "DELETE /v1/jobs/j1":
                json = "{\"id\": \"j1\", \"state\": \"cancelled\", \"progress\": 0.5}";
                break;
            default:
                status = 404;
                json = "{\"detail\": \"no\"}";
        }
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
        ex.close();
    }
}
