package org.fluorecon.server;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.fluorecon.core.FluoreconException;

/**
 * Starts and stops the local model server from ImageJ: {@code <python> -m fluorecon.cli serve}
 * as a process that outlives ImageJ, its output in {@code server.log} of the config folder; it is
 * stopped through the PID it recorded in {@code server.json} (there is no shutdown route, so a
 * token holder cannot stop someone else's server over HTTP).
 */
public final class ServerProcess {
    private ServerProcess() {
    }

    /** The running server's health, or null when none answers at the configured URL. */
    public static Map<String, Object> status() {
        try {
            return ServerClient.fromConfig().health();
        } catch (ServerException e) {
            return null;
        }
    }

    /**
     * Starts a server and waits until it answers.
     *
     * @param python  the Python that has fluorecon installed (e.g. {@code python3} or a venv's)
     * @param port    TCP port; 0 for the default 8765
     * @param waitSec how long to wait for it to answer
     * @return its health
     */
    public static Map<String, Object> start(String python, int port, double waitSec) {
        Map<String, Object> running = status();
        if (running != null) {
            throw new FluoreconException("A fluorecon server is already running at " + ServerConfig.url() + " (version "
                    + running.get("version") + "); stop it first to start another.");
        }
        Path dir = ServerConfig.dir();
        Path log = dir.resolve("server.log");
        List<String> cmd = new ArrayList<>(List.of(python, "-m", "fluorecon.cli", "serve"));
        if (port > 0) {
            cmd.add("--port");
            cmd.add(Integer.toString(port));
        }
        Process proc;
        try {
            Files.createDirectories(dir);
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.environment().put(ServerConfig.ENV, dir.toString());
            pb.redirectErrorStream(true);
            pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            pb.redirectInput(ProcessBuilder.Redirect.from(new File(System.getProperty("os.name", "")
                    .toLowerCase().startsWith("windows") ? "NUL" : "/dev/null")));
            proc = pb.start();
        } catch (IOException e) {
            throw new FluoreconException("Cannot run '" + python + "' (" + e.getMessage() + "); run Server… with "
                    + "action=[set up] to make a Python environment for fluorecon, or give one that has it with "
                    + "python=/path/to/python.", e);
        }
        long deadline = System.nanoTime() + (long) (waitSec * 1e9);
        while (System.nanoTime() < deadline) {
            if (!proc.isAlive()) {
                throw new FluoreconException("The server stopped right after starting (exit code " + proc.exitValue()
                        + "): " + tail(log) + " Check that '" + python + "' has fluorecon installed; Plugins › fluorecon › "
                        + "Server… › action=[set up] makes a Python environment that has it.");
            }
            if (ServerConfig.pid() == proc.pid()) {
                Map<String, Object> health = status();
                if (health != null) {
                    return health;
                }
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        throw new FluoreconException("The server (PID " + proc.pid() + ") did not answer within " + (int) waitSec
                + " s; see " + log + ".");
    }

    /**
     * Stops the server recorded in {@code server.json}; returns a sentence saying what happened.
     */
    public static String stop(double waitSec) {
        long pid = ServerConfig.pid();
        Optional<ProcessHandle> handle = pid > 0 ? ProcessHandle.of(pid) : Optional.empty();
        if (handle.isEmpty() || !handle.get().isAlive()) {
            return "No fluorecon server is running" + (pid > 0 ? " (PID " + pid + " in " + ServerConfig.serverFile()
                    + " has exited)." : ".");
        }
        ProcessHandle h = handle.get();
        Optional<String> cmd = h.info().commandLine();
        if (cmd.isPresent() && !cmd.get().contains("fluorecon")) {
            throw new FluoreconException("PID " + pid + " from " + ServerConfig.serverFile() + " is not a fluorecon "
                    + "server (" + cmd.get() + "); not stopping it. Stop the server where it was started.");
        }
        h.destroy(); // SIGTERM: uvicorn finishes the request in flight; queued jobs persist
        try {
            h.onExit().get((long) (waitSec * 1000), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new FluoreconException("The server (PID " + pid + ") did not stop within " + (int) waitSec
                    + " s; it may be finishing a job. Try again or end it from a terminal (kill " + pid + ").");
        } catch (java.util.concurrent.ExecutionException e) {
            throw new FluoreconException("Could not wait for the server to stop: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return "Stopped the fluorecon server (PID " + pid + ").";
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - 5), lines.size()));
        } catch (IOException e) {
            return "(no log)";
        }
    }
}
