package org.fluorecon.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ServerClient against a tiny in-JVM HTTP server: wire format and the mapping of every failure to a message. */
class ServerClientTest {
    static final String TOKEN = "s3cret-token";

    @TempDir
    Path tmp;
    HttpServer http;
    Path tokenFile;
    final List<String> requests = new CopyOnWriteArrayList<>();
    volatile byte[] lastBody;

    @BeforeEach
    void start() throws IOException {
        http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        tokenFile = tmp.resolve("token");
        Files.writeString(tokenFile, TOKEN + "\n");
        http.createContext("/", this::handle);
        http.start();
    }

    @AfterEach
    void stop() {
        http.stop(0);
    }

    String url() {
        return "http://127.0.0.1:" + http.getAddress().getPort();
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        String method = ex.getRequestMethod();
        requests.add(method + " " + path);
        lastBody = ex.getRequestBody().readAllBytes();
        if (path.equals("/v1/health")) {
            reply(ex, 200, "{\"status\": \"ok\", \"version\": \"9.9\", \"device\": \"cpu\", \"workers\": 1, "
                    + "\"queued\": 0, \"max_queue\": 64}");
            return;
        }
        if (!("Bearer " + TOKEN).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
            reply(ex, 401, "{\"detail\": \"Missing or wrong token\"}");
            return;
        }
        switch (method + " " + path) {
            case "POST /v1/jobs":
                String type = ex.getRequestHeaders().getFirst("Content-Type");
                String body = new String(lastBody, StandardCharsets.ISO_8859_1);
                if (!type.startsWith("multipart/form-data; boundary=") || !body.contains("name=\"spec\"")
                        || !body.contains("name=\"image\"; filename=\"image.tif\"")) {
                    reply(ex, 422, "{\"detail\": \"Invalid request: spec: field required\"}");
                } else if (body.contains("\"method\": \"nope\"")) {
                    reply(ex, 422, "{\"detail\": \"Invalid spec: method: Input should be 'rl'\"}");
                } else if (body.contains("\"method\": \"busy\"")) {
                    ex.getResponseHeaders().add("Retry-After", "2");
                    reply(ex, 503, "{\"detail\": \"The job queue is full; try again shortly.\"}");
                } else {
                    reply(ex, 201, "{\"id\": \"abc\", \"task\": \"deconvolve\", \"state\": \"queued\", \"progress\": 0, "
                            + "\"message\": \"\", \"created\": 1.0}");
                }
                return;
            case "GET /v1/jobs/abc":
                reply(ex, 200, "{\"id\": \"abc\", \"state\": \"running\", \"progress\": 0.25, \"message\": \"it 5\"}");
                return;
            case "GET /v1/jobs/abc/result":
                byte[] tiff = {'I', 'I', 42, 0, 1, 2, 3};
                ex.sendResponseHeaders(200, tiff.length);
                ex.getResponseBody().write(tiff);
                ex.close();
                return;
            case "DELETE /v1/jobs/abc":
                reply(ex, 200, "{\"id\": \"abc\", \"state\": \"cancelled\", \"progress\": 0.25, \"message\": \"\"}");
                return;
            case "GET /v1/jobs/html":
                ex.getResponseHeaders().add("Content-Type", "text/html");
                reply(ex, 200, "<html>not json</html>");
                return;
            default:
                reply(ex, 404, "{\"detail\": \"No job with id 'zzz'; it may have been deleted.\"}");
        }
    }

    private static void reply(HttpExchange ex, int status, String json) throws IOException {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
        ex.close();
    }

    @Test
    void healthAndJobLifecycle() {
        ServerClient c = new ServerClient(url(), tokenFile);
        assertEquals("9.9", c.health().get("version"));
        JobStatus job = c.submit("{\"method\": \"rl\"}", new byte[] {1, 2, 3}, new byte[] {4});
        assertEquals("abc", job.id);
        assertTrue(job.isActive());
        String body = new String(lastBody, StandardCharsets.ISO_8859_1);
        assertTrue(body.contains("name=\"psf\"; filename=\"psf.tif\""), body);
        assertTrue(body.contains("{\"method\": \"rl\"}"), body);
        JobStatus s = c.status("abc");
        assertEquals(0.25, s.progress, 1e-12);
        assertEquals("it 5", s.message);
        assertArrayEquals(new byte[] {'I', 'I', 42, 0, 1, 2, 3}, c.result("abc"));
        assertEquals("cancelled", c.cancel("abc").state);
        assertEquals("DELETE /v1/jobs/abc", requests.get(requests.size() - 1));
    }

    @Test
    void notRunningSaysHowToStart() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        ServerClient c = new ServerClient("http://127.0.0.1:" + port, tokenFile);
        ServerException e = assertThrows(ServerException.class, c::health);
        assertEquals("The fluorecon server is not running at http://127.0.0.1:" + port + ". Start it with "
                + "Plugins › fluorecon › Server… (action=start; the first time action=[set up], which makes its Python "
                + "environment), or with `fluorecon serve` in a terminal.", e.getMessage());
        assertEquals(0, e.status());
        assertTrue(assertThrows(ServerException.class, () -> c.status("abc")).getMessage().contains("not running"));
    }

    @Test
    void wrongTokenNamesTheFile() throws IOException {
        Files.writeString(tokenFile, "wrong\n");
        ServerClient c = new ServerClient(url(), tokenFile);
        ServerException e = assertThrows(ServerException.class, () -> c.status("abc"));
        assertEquals(401, e.status());
        assertEquals("The server refused the token in " + tokenFile + "; restart the server or copy its token file.",
                e.getMessage());
    }

    @Test
    void missingTokenWithServerUp() {
        ServerClient c = new ServerClient(url(), tmp.resolve("absent"));
        ServerException e = assertThrows(ServerException.class, () -> c.status("abc"));
        assertTrue(e.getMessage().startsWith("No server token in " + tmp.resolve("absent")), e.getMessage());
    }

    @Test
    void clientErrorsCarryTheServersDetail() {
        ServerClient c = new ServerClient(url(), tokenFile);
        ServerException e = assertThrows(ServerException.class, () -> c.submit("{\"method\": \"nope\"}", new byte[1], null));
        assertEquals(422, e.status());
        assertEquals("Invalid spec: method: Input should be 'rl'", e.getMessage());
        ServerException missing = assertThrows(ServerException.class, () -> c.status("zzz"));
        assertEquals(404, missing.status());
        assertEquals("No job with id 'zzz'; it may have been deleted.", missing.getMessage());
        ServerException busy = assertThrows(ServerException.class, () -> c.submit("{\"method\": \"busy\"}", new byte[1], null));
        assertEquals(503, busy.status());
        assertEquals("The job queue is full; try again shortly. (retry after 2 s)", busy.getMessage());
    }

    @Test
    void foreignAnswerIsNamed() {
        ServerClient c = new ServerClient(url(), tokenFile);
        ServerException e = assertThrows(ServerException.class, () -> c.status("html"));
        assertTrue(e.getMessage().contains("not fluorecon's JSON"), e.getMessage());
    }

    @Test
    void configFolderFromPropertyGivesUrlPidAndToken() throws IOException {
        long alive = ProcessHandle.current().pid(); // a live PID: server.json of a dead one is cleared
        Files.writeString(tmp.resolve("server.json"), "{\"url\": \"" + url() + "\", \"pid\": " + alive
                + ", \"token_file\": \"" + tokenFile.toString().replace("\\", "\\\\") + "\"}");
        inConfigDir(() -> {
            assertEquals(url(), ServerConfig.url());
            assertEquals(alive, ServerConfig.pid());
            assertEquals(tokenFile, ServerConfig.tokenPath());
            assertEquals("abc", ServerClient.fromConfig().status("abc").id);
        });
    }

    /** Runs {@code body} with {@link ServerConfig#PROPERTY} pointing at {@code tmp}. */
    private void inConfigDir(Runnable body) {
        String old = System.getProperty(ServerConfig.PROPERTY);
        System.setProperty(ServerConfig.PROPERTY, tmp.toString());
        try {
            body.run();
        } finally {
            if (old == null) {
                System.clearProperty(ServerConfig.PROPERTY);
            } else {
                System.setProperty(ServerConfig.PROPERTY, old);
            }
        }
    }

    @Test
    void serverJsonOfAnExitedServerIsCleared() throws Exception {
        Process gone = new ProcessBuilder("java", "-version").start();
        gone.waitFor();
        Path info = tmp.resolve("server.json");
        Files.writeString(info, "{\"url\": \"http://127.0.0.1:9\", \"pid\": " + gone.pid() + "}");
        inConfigDir(() -> {
            assertEquals(-1, ServerConfig.pid());
            assertEquals(ServerConfig.DEFAULT_URL, ServerConfig.url());
            assertFalse(Files.exists(info), "server.json with the dead PID " + gone.pid() + " is still there");
            assertEquals("No fluorecon server is running.", ServerProcess.stop(1));
        });
    }

    @Test
    void aResultOpenedFromTheServerDoesNotNameItsDeletedTemporaryFile() {
        ij.ImagePlus imp = ij.IJ.createImage("r", "32-bit ramp", 8, 6, 1);
        byte[] tiff = new ij.io.FileSaver(imp).serialize();
        ij.ImagePlus out = JobSession.open(tiff);
        assertEquals(8, out.getWidth());
        String info = new ij.plugin.ImageInfo().getImageInfo(out);
        assertFalse(info.contains("fluorecon-result-"), info);
    }

    @Test
    void jsonRoundTrip() {
        Map<String, Object> m = Json.parseObject("{\"a\": [1, 2.5, \"x\\\"y\\n\", true, null], \"b\": {\"c\": -3e2}}");
        assertEquals(List.of(1L, 2.5, "x\"y\n", true), ((List<?>) m.get("a")).subList(0, 4));
        assertEquals(-300.0, ((Map<?, ?>) m.get("b")).get("c"));
        assertEquals(m, Json.parse(Json.write(m)));
        Map<String, Object> spec = new java.util.LinkedHashMap<>();
        spec.put("na", 1.4);
        spec.put("num_iter", 20);
        spec.put("s", "a\\b");
        assertEquals("{\"na\":1.4,\"num_iter\":20,\"s\":\"a\\\\b\"}", Json.write(spec));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": tru}"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": 1} x")); // trailing text
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{a: 1}")); // strict: names are quoted
        assertThrows(IllegalArgumentException.class, () -> Json.parseObject("[1]"));
        assertThrows(IllegalArgumentException.class, () -> Json.write(Map.of("x", Double.NaN)));
        assertEquals("{\"t\":\"<a&b>=\"}", Json.write(Map.of("t", "<a&b>="))); // no HTML escapes
    }
}
