package org.fluorecon.server;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Where the server's token and {@code server.json} live, as {@code fluorecon.server.settings}
 * writes them: {@code $FLUORECON_CONFIG_DIR} or {@code ~/.config/fluorecon}, holding {@code token}
 * (one line) and {@code server.json} ({@code {"url": ..., "pid": ..., "token_file": ...}}).
 * The system property {@value #PROPERTY} overrides both (a running JVM cannot change its environment).
 */
public final class ServerConfig {
    public static final String PROPERTY = "fluorecon.config_dir";
    public static final String ENV = "FLUORECON_CONFIG_DIR";
    public static final String DEFAULT_URL = "http://127.0.0.1:8765";

    private ServerConfig() {
    }

    /** The config folder (not created). */
    public static Path dir() {
        String p = System.getProperty(PROPERTY);
        if (p == null || p.isBlank()) {
            p = System.getenv(ENV);
        }
        if (p == null || p.isBlank()) {
            return Path.of(System.getProperty("user.home"), ".config", "fluorecon");
        }
        return Path.of(p);
    }

    public static Path tokenFile() {
        return dir().resolve("token");
    }

    public static Path serverFile() {
        return dir().resolve("server.json");
    }

    /** {@code server.json} as a map; empty when absent or unreadable (no server has started yet). */
    public static Map<String, Object> serverInfo() {
        Path f = serverFile();
        try {
            return Json.parseObject(new String(Files.readAllBytes(f), StandardCharsets.UTF_8));
        } catch (IOException | IllegalArgumentException e) {
            return Map.of();
        }
    }

    /** The URL the last started server wrote to {@code server.json}, else {@link #DEFAULT_URL}. */
    public static String url() {
        Object url = serverInfo().get("url");
        return url instanceof String && !((String) url).isBlank() ? (String) url : DEFAULT_URL;
    }

    /** The PID recorded in {@code server.json}; -1 when there is none. */
    public static long pid() {
        Object pid = serverInfo().get("pid");
        return pid instanceof Number ? ((Number) pid).longValue() : -1;
    }

    /** The token file the server says it uses, else {@link #tokenFile()}. */
    public static Path tokenPath() {
        Object t = serverInfo().get("token_file");
        return t instanceof String && !((String) t).isBlank() ? Path.of((String) t) : tokenFile();
    }
}
