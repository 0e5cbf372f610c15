package org.fluorecon.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.fluorecon.core.FluoreconException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Server… › Set up's choices: which Python, which wheel; the whole path runs in tests/test_fresh_fiji_user.py. */
class ServerSetupTest {
    @Test
    void pythonVersionsOutside310To313AreRefusedWithTheReason() {
        assertNull(ServerSetup.versionProblem("python3", "3.10"));
        assertNull(ServerSetup.versionProblem("python3", "3.13"));
        assertEquals("'/usr/bin/python3' is Python 3.9; fluorecon's server needs Python 3.10 to 3.13 (PyTorch and the "
                + "other dependencies have no builds for it otherwise).", ServerSetup.versionProblem("/usr/bin/python3", "3.9"));
        assertTrue(ServerSetup.versionProblem("py", "3.14").startsWith("'py' is Python 3.14;"));
        assertEquals("'nope' does not run as Python.", ServerSetup.versionProblem("nope", null));
    }

    @Test
    void versionOfARealInterpreterAndOfAMissingOne() {
        String v = ServerSetup.version("python3");
        assertTrue(v != null && v.matches("3\\.\\d+"), String.valueOf(v));
        assertNull(ServerSetup.version("/no/such/python"));
    }

    @Test
    void theNewestWheelInLibFluoreconIsFound(@TempDir Path fiji) throws IOException {
        FluoreconException none = assertThrows(FluoreconException.class, () -> ServerSetup.findWheel(fiji));
        assertTrue(none.getMessage().startsWith("No fluorecon wheel in " + fiji.resolve("lib").resolve("fluorecon")),
                none.getMessage());
        Path dir = Files.createDirectories(fiji.resolve("lib").resolve("fluorecon"));
        Files.createFile(dir.resolve("fluorecon-0.1.0-py3-none-any.whl"));
        Files.createFile(dir.resolve("fluorecon-0.2.0-py3-none-any.whl"));
        Files.createFile(dir.resolve("other-9.0-py3-none-any.whl"));
        assertEquals(dir.resolve("fluorecon-0.2.0-py3-none-any.whl"), ServerSetup.findWheel(fiji));
    }

    @Test
    void aMissingWheelOrBadTorchChoiceStopsBeforeAnythingIsMade(@TempDir Path tmp) {
        ServerSetup.Options o = new ServerSetup.Options();
        o.basePython = "python3";
        o.venv = tmp.resolve("venv");
        o.wheel = tmp.resolve("missing.whl");
        FluoreconException e = assertThrows(FluoreconException.class, () -> ServerSetup.setUp(o, s -> { }));
        assertTrue(e.getMessage().startsWith("The fluorecon wheel " + o.wheel + " does not exist"), e.getMessage());
        assertTrue(Files.notExists(o.venv));
        assertEquals(List.of("--no-deps", "--no-index"), ServerSetup.args("  --no-deps   --no-index "));
        assertEquals(List.of(), ServerSetup.args(" "));
    }
}
