package org.fluorecon.server;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.fluorecon.core.FluoreconException;

/**
 * Server… › Set up: a Python environment for the model server without a terminal. A venv from a
 * Python 3.10–3.13 (found on PATH or given), PyTorch (CPU by default, or CUDA) from PyTorch's own
 * index, then the fluorecon wheel that the update site installs in {@code Fiji.app/lib/fluorecon/};
 * the venv's Python is recorded in {@code setup.json} of the config folder ({@link ServerConfig}).
 * Every step's output goes to {@code setup.log} there.
 */
public final class ServerSetup {
    /** Pythons the wheel and its dependencies install on without a compiler (checked with pip download). */
    public static final int MIN_MINOR = 10;
    public static final int MAX_MINOR = 13;
    /** Where pip finds PyTorch builds: CPU only (small), or CUDA 12.6 (needs an NVIDIA driver >= 560). */
    public static final String TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu";
    public static final String TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu126";
    static final List<String> CANDIDATES = List.of("python3.12", "python3.11", "python3.13", "python3.10", "python3",
            "python");

    private ServerSetup() {
    }

    /** What to set up; the defaults are what Server… › Set up offers. */
    public static final class Options {
        /** The Python to make the venv from; empty: the first 3.10–3.13 on PATH. */
        public String basePython = "";
        public Path venv = defaultVenv();
        /** The fluorecon wheel; see {@link #findWheel}. */
        public Path wheel;
        /** cpu, cuda or skip (PyTorch already importable, e.g. a venv with system site packages). */
        public String torch = "cpu";
        /** Extra {@code python -m venv} arguments (e.g. --system-site-packages). */
        public List<String> venvArgs = List.of();
        /** Extra {@code pip install} arguments for the wheel (e.g. --no-deps, --no-index). */
        public List<String> pipArgs = List.of();
    }

    /** The venv's default place: {@code <config folder>/python}. */
    public static Path defaultVenv() {
        return ServerConfig.dir().resolve("python");
    }

    static boolean windows() {
        return System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("windows");
    }

    /** The interpreter inside a venv. */
    public static Path venvPython(Path venv) {
        return windows() ? venv.resolve("Scripts").resolve("python.exe") : venv.resolve("bin").resolve("python");
    }

    /** "3.11" for an interpreter that runs, else null. */
    public static String version(String python) {
        try {
            Process p = new ProcessBuilder(python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
                    .redirectErrorStream(true).start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return null;
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            return p.exitValue() == 0 && out.matches("\\d+\\.\\d+") ? out : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** Null when {@code version} ("3.11") can run fluorecon, else why not. */
    public static String versionProblem(String python, String version) {
        if (version == null) {
            return "'" + python + "' does not run as Python.";
        }
        String[] mm = version.split("\\.");
        int major = Integer.parseInt(mm[0]);
        int minor = Integer.parseInt(mm[1]);
        if (major == 3 && minor >= MIN_MINOR && minor <= MAX_MINOR) {
            return null;
        }
        return "'" + python + "' is Python " + version + "; fluorecon's server needs Python 3." + MIN_MINOR + " to 3."
                + MAX_MINOR + " (PyTorch and the other dependencies have no builds for it otherwise).";
    }

    /** The first Python 3.10–3.13 among {@link #CANDIDATES} on PATH. */
    public static String find() {
        List<String> seen = new ArrayList<>();
        for (String name : CANDIDATES) {
            for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
                Path exe = Path.of(dir.isEmpty() ? "." : dir, windows() ? name + ".exe" : name);
                if (Files.isExecutable(exe)) {
                    String v = version(exe.toString());
                    if (versionProblem(exe.toString(), v) == null) {
                        return exe.toString();
                    }
                    seen.add(exe + " (" + (v == null ? "does not run" : v) + ")");
                    break;
                }
            }
        }
        throw new FluoreconException("No Python 3." + MIN_MINOR + " to 3." + MAX_MINOR + " found on PATH"
                + (seen.isEmpty() ? "" : "; found " + String.join(", ", seen)) + ". Install Python 3.12 from "
                + "python.org (or your package manager), or give its path as base_python=/path/to/python.");
    }

    /** The newest fluorecon wheel in {@code <imagejDir>/lib/fluorecon/}, where the update site puts it. */
    public static Path findWheel(Path imagejDir) {
        Path dir = imagejDir.resolve("lib").resolve("fluorecon");
        List<Path> wheels = new ArrayList<>();
        if (Files.isDirectory(dir)) {
            try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "fluorecon-*.whl")) {
                s.forEach(wheels::add);
            } catch (IOException e) {
                throw new FluoreconException("Cannot list " + dir + ": " + e.getMessage(), e);
            }
        }
        if (wheels.isEmpty()) {
            throw new FluoreconException("No fluorecon wheel in " + dir + ". Install fluorecon from its update site "
                    + "(Help › Update… › Manage update sites), or give wheel=/path/to/fluorecon-<version>-py3-none-any.whl "
                    + "(`make dist` builds it in dist/python/).");
        }
        wheels.sort((a, b) -> b.getFileName().toString().compareTo(a.getFileName().toString()));
        return wheels.get(0);
    }

    /**
     * Creates the venv, installs PyTorch and the wheel, checks that fluorecon imports and records the
     * venv's Python; returns it. {@code status} hears each step (for the status bar).
     */
    public static Path setUp(Options o, Consumer<String> status) {
        String base = o.basePython == null || o.basePython.isBlank() ? find() : o.basePython.trim();
        String problem = versionProblem(base, version(base));
        if (problem != null) {
            throw new FluoreconException(problem + " Give another with base_python=/path/to/python.");
        }
        if (o.wheel == null || !Files.isRegularFile(o.wheel)) {
            throw new FluoreconException("The fluorecon wheel " + o.wheel + " does not exist; give wheel=/path/to/"
                    + "fluorecon-<version>-py3-none-any.whl.");
        }
        Path log = ServerConfig.dir().resolve("setup.log");
        try {
            Files.createDirectories(log.getParent());
            Files.writeString(log, "fluorecon server set up: base " + base + ", venv " + o.venv + ", wheel " + o.wheel
                    + ", torch " + o.torch + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new FluoreconException("Cannot write " + log + ": " + e.getMessage(), e);
        }
        status.accept("creating a Python environment in " + o.venv);
        List<String> venv = new ArrayList<>(List.of(base, "-m", "venv"));
        venv.addAll(o.venvArgs);
        venv.add(o.venv.toString());
        run(venv, log);
        String py = venvPython(o.venv).toString();
        switch (o.torch) {
            case "cpu":
            case "cuda":
                status.accept("installing PyTorch (" + o.torch + "; a large download)");
                run(List.of(py, "-m", "pip", "install", "torch", "--index-url",
                        o.torch.equals("cpu") ? TORCH_CPU_INDEX : TORCH_CUDA_INDEX), log);
                break;
            case "skip":
                break;
            default:
                throw new FluoreconException("torch = '" + o.torch + "' is unknown; use cpu, cuda or skip.");
        }
        status.accept("installing fluorecon from " + o.wheel.getFileName());
        List<String> pip = new ArrayList<>(List.of(py, "-m", "pip", "install"));
        pip.addAll(o.pipArgs);
        pip.add(o.wheel.toString());
        run(pip, log);
        run(List.of(py, "-c", "import fluorecon.cli, torch; print('fluorecon', fluorecon.__version__, 'from', "
                + "fluorecon.__file__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"), log);
        ServerConfig.recordSetup(py, o.venv, o.wheel, o.torch);
        return Path.of(py);
    }

    private static void run(List<String> cmd, Path log) {
        try {
            Files.writeString(log, "$ " + String.join(" ", cmd) + "\n", StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.APPEND);
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            // the venv's own packages only: a PYTHONPATH of the user's would shadow (or fake) what pip installs
            pb.environment().remove("PYTHONPATH");
            pb.environment().remove("PYTHONHOME");
            Process p = pb.start();
            p.getOutputStream().close();
            int rc = p.waitFor();
            if (rc != 0) {
                List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
                throw new FluoreconException("Set up failed at `" + String.join(" ", cmd) + "` (exit code " + rc + "): "
                        + String.join(" | ", lines.subList(Math.max(0, lines.size() - 4), lines.size()))
                        + ". The whole output is in " + log + ".");
            }
        } catch (IOException e) {
            throw new FluoreconException("Cannot run " + cmd.get(0) + " (" + e.getMessage() + ").", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FluoreconException("Set up interrupted; the environment in " + cmd + " may be incomplete. Run "
                    + "Set up again.", e);
        }
    }

    /** Splits a macro option such as "--system-site-packages --foo" into arguments. */
    public static List<String> args(String text) {
        String t = text == null ? "" : text.trim();
        return t.isEmpty() ? List.of() : Arrays.asList(t.split("\\s+"));
    }
}
