package org.fluorecon.ij;

import ij.IJ;
import ij.Prefs;
import ij.plugin.PlugIn;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerConfig;
import org.fluorecon.server.ServerProcess;
import org.fluorecon.server.ServerSetup;

/**
 * Plugins › fluorecon › Server…  Shows the model server's status, sets up its Python environment
 * ({@link ServerSetup}), starts it, stops it. Macro: {@code run("Server...", "action=status")},
 * {@code "action=[set up] torch=cpu"} (then starts it), {@code "action=start"} (the Python that Set up
 * recorded, else {@code python=/path/to/venv/bin/python}), {@code "action=stop"}.
 * A Python given by hand is remembered in IJ_Prefs as {@value #PYTHON_PREF}.
 */
@Menu(label = "Server...")
public class Server_ implements PlugIn {
    static final String TITLE = "fluorecon Server";
    static final String PYTHON_PREF = "fluorecon.python";
    static final String SET_UP = "set up";

    private String lastMessage = "";

    /** What the last run reported. */
    public String getMessage() {
        return lastMessage;
    }

    @Override
    public void run(String arg) {
        try {
            Map<String, Object> health = ServerProcess.status();
            Params params = new Params(TITLE, "action=status");
            String recorded = ServerConfig.setupPython();
            params.addChoice("action", new String[] {"status", "start", "stop", SET_UP}, health != null ? "status"
                    : recorded != null || !Prefs.get(PYTHON_PREF, "").isEmpty() ? "start" : SET_UP);
            params.addString("python", recorded != null ? recorded : Prefs.get(PYTHON_PREF, "python3"));
            params.addNumber("port", 0);
            // Set up only: base_python empty = the first Python 3.10-3.13 on PATH; wheel empty = Fiji.app/lib/fluorecon
            params.addString("base_python", "");
            params.addString("venv", ServerSetup.defaultVenv().toString());
            params.addString("wheel", "");
            params.addChoice("torch", new String[] {"cpu", "cuda", "skip"}, "cpu");
            params.addString("venv_options", "");
            params.addString("pip_options", "");
            if (!params.show()) {
                return;
            }
            String action = params.nextChoice("action");
            String python = params.nextString("python").trim();
            int port = params.nextInt("port");
            ServerSetup.Options setup = new ServerSetup.Options();
            setup.basePython = params.nextString("base_python").trim();
            String venv = params.nextString("venv").trim();
            setup.venv = venv.isEmpty() ? ServerSetup.defaultVenv() : Path.of(venv);
            String wheel = params.nextString("wheel").trim();
            setup.torch = params.nextChoice("torch");
            setup.venvArgs = ServerSetup.args(params.nextString("venv_options"));
            setup.pipArgs = ServerSetup.args(params.nextString("pip_options"));
            switch (action) {
                case SET_UP:
                    if (health != null) {
                        throw new FluoreconException("A fluorecon server is already running (" + describe(health)
                                + "); stop it before setting up a new environment.");
                    }
                    setup.wheel = wheel.isEmpty() ? ServerSetup.findWheel(Path.of(IJ.getDirectory("imagej")))
                            : Path.of(wheel);
                    Path made = ServerSetup.setUp(setup, step -> IJ.showStatus("fluorecon set up: " + step + "..."));
                    IJ.showStatus("Starting the fluorecon server...");
                    report("Set up " + made + " and started: " + describe(ServerProcess.start(made.toString(), port,
                            90)));
                    break;
                case "status":
                    report(health == null ? "No fluorecon server is running at " + ServerConfig.url() + ". "
                            + ServerClient.START_HINT : describe(health));
                    break;
                case "start":
                    if (python.isEmpty()) {
                        throw new FluoreconException("python is empty; run action=[set up] first, or give the Python "
                                + "that has fluorecon installed, e.g. python=/home/me/fluorecon/.venv/bin/python.");
                    }
                    if (!python.equals(recorded)) {
                        Prefs.set(PYTHON_PREF, python);
                    }
                    IJ.showStatus("Starting the fluorecon server...");
                    report("Started: " + describe(ServerProcess.start(python, port, 90)));
                    break;
                case "stop":
                    report(ServerProcess.stop(20));
                    break;
                default:
                    throw new FluoreconException("action = '" + action + "' is unknown; use status, start or stop.");
            }
        } catch (FluoreconException e) {
            lastMessage = e.getMessage();
            Commands.fail(TITLE, e.getMessage());
        }
    }

    private static String describe(Map<String, Object> h) {
        return "fluorecon server " + h.get("version") + " at " + ServerConfig.url() + ", device " + h.get("device")
                + ", " + h.get("workers") + " worker(s), " + h.get("queued") + " of " + h.get("max_queue")
                + " queue places used; PID " + ServerConfig.pid() + ", config " + ServerConfig.dir() + ".";
    }

    private void report(String message) {
        lastMessage = message;
        IJ.showStatus("");
        if (Commands.isBatch()) {
            IJ.log(TITLE + ": " + message);
        } else {
            IJ.showMessage(TITLE, message);
        }
    }
}
