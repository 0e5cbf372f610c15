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

    /**
     * {@code server.json} as a map; empty when absent or unreadable (no server has started yet), and
     * empty when the PID it records has exited: then the file is removed (a server killed outright
     * cannot remove it itself; one stopped normally does).
     */
    public static Map<String, Object> serverInfo() {
        Path f = serverFile();
        String text;
        Map<String, Object> info;
        try {
            text = new String(Files.readAllBytes(f), StandardCharsets.UTF_8);
            info = Json.parseObject(text);
        } catch (IOException | IllegalArgumentException e) {
            return Map.of();
        }
        Object pid = info.get("pid");
        if (pid instanceof Number && !ProcessHandle.of(((Number) pid).longValue()).map(ProcessHandle::isAlive).orElse(false)) {
            try {
                // only the file we read: a server that started meanwhile has written a new one
                if (text.equals(new String(Files.readAllBytes(f), StandardCharsets.UTF_8))) {
                    Files.deleteIfExists(f);
                }
            } catch (IOException e) {
                // unreadable or not removable now: still report no server
            }
            return Map.of();
        }
        return info;
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

    /** What Server… › Set up recorded: {@code {"python", "venv", "wheel", "torch"}}. */
    public static Path setupFile() {
        return dir().resolve("setup.json");
    }

    /** Records the Python that Set up made (written to a temporary file, then renamed). */
    public static void recordSetup(String python, Path venv, Path wheel, String torch) {
        Path f = setupFile();
        Path tmp = f.resolveSibling(".setup.json.part");
        try {
            Files.createDirectories(f.getParent());
            Files.writeString(tmp, Json.write(Json.object("python", python, "venv", venv.toString(), "wheel",
                    wheel.toString(), "torch", torch)), StandardCharsets.UTF_8);
            Files.move(tmp, f, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new org.fluorecon.core.FluoreconException("Cannot write " + f + ": " + e.getMessage(), e);
        }
    }

    /** The Python Set up recorded, when it still exists; else null. */
    public static String setupPython() {
        try {
            Object p = Json.parseObject(new String(Files.readAllBytes(setupFile()), StandardCharsets.UTF_8)).get("python");
            return p instanceof String && Files.isRegularFile(Path.of((String) p)) ? (String) p : null;
        } catch (IOException | IllegalArgumentException e) {
            return null;
        }
    }

    /** The token file the server says it uses, else {@link #tokenFile()}. */
    public static Path tokenPath() {
        Object t = serverInfo().get("token_file");
        return t instanceof String && !((String) t).isBlank() ? Path.of((String) t) : tokenFile();
    }
}
