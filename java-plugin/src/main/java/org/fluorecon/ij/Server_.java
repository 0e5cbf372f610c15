package org.fluorecon.ij;

import ij.IJ;
import ij.Prefs;
import ij.plugin.PlugIn;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.ServerConfig;
import org.fluorecon.server.ServerProcess;

/**
 * Plugins › fluorecon › Server…  Shows the model server's status, starts it from a configured
 * Python, stops it. Macro: {@code run("Server...", "action=status")},
 * {@code "action=start python=/path/to/venv/bin/python port=0"}, {@code "action=stop"}.
 * The Python is remembered in IJ_Prefs as {@value #PYTHON_PREF}.
 */
@Menu(label = "Server...")
public class Server_ implements PlugIn {
    static final String TITLE = "fluorecon Server";
    static final String PYTHON_PREF = "fluorecon.python";

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
            params.addChoice("action", new String[] {"status", "start", "stop"}, health == null ? "start" : "status");
            params.addString("python", Prefs.get(PYTHON_PREF, "python3"));
            params.addNumber("port", 0);
            if (!params.show()) {
                return;
            }
            String action = params.nextChoice("action");
            String python = params.nextString("python").trim();
            int port = params.nextInt("port");
            switch (action) {
                case "status":
                    report(health == null ? "No fluorecon server is running at " + ServerConfig.url() + ". Start it "
                            + "here (action=start) or with `fluorecon serve`." : describe(health));
                    break;
                case "start":
                    if (python.isEmpty()) {
                        throw new FluoreconException("python is empty; give the Python that has fluorecon installed, "
                                + "e.g. python=/home/me/fluorecon/.venv/bin/python.");
                    }
                    Prefs.set(PYTHON_PREF, python);
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
