package org.fluorecon.ij;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The Java-version guard in front of every command: what the build made of it and the message it gives. */
class LaunchTest {
    @Test
    void theLauncherIsJava8BytecodeAndTheCommandsJava11() throws IOException {
        assertEquals(52, Launch.classFileMajor(Launch.class.getName()));
        assertEquals(55, Launch.classFileMajor("org.fluorecon.tasks.denoise.Denoise_"));
        assertEquals(55, Launch.classFileMajor(Server_.class.getName()));
        assertThrows(IOException.class, () -> Launch.classFileMajor("org.fluorecon.NoSuchCommand_"));
    }

    @Test
    void anOldJavaIsToldWhichJavaTheCommandNeeds() {
        assertEquals("fluorecon needs Java 11 or newer (class file version 55); this ImageJ runs on Java 1.8.0_402"
                + " (class file version 52).\nUpdate Fiji to a current release (it ships Java 21), or start ImageJ"
                + " with a Java 11+ runtime.", Launch.problem(55, "52.0", "1.8.0_402"));
        assertTrue(Launch.problem(65, "61.0", "17.0.15").startsWith("fluorecon needs Java 21 or newer"));
        assertNull(Launch.problem(55, "55.0", "11.0.2"));
        assertNull(Launch.problem(55, "69.0", "25"));
        assertNull(Launch.problem(55, null, "?"), "an unreadable property leaves the decision to the JVM");
    }

    @Test
    void everyMenuEntryGoesThroughTheLauncher() throws IOException, URISyntaxException {
        Path classes = Path.of(Launch.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        for (String line : Files.readAllLines(classes.resolve("plugins.config"), StandardCharsets.UTF_8)) {
            if (line.startsWith("#") || line.isBlank()) {
                continue;
            }
            String entry = line.substring(line.lastIndexOf(", ") + 2);
            assertTrue(entry.startsWith(PluginsConfig.LAUNCHER + "(\"") && entry.endsWith("\")"), line);
            String command = entry.substring(PluginsConfig.LAUNCHER.length() + 2, entry.length() - 2);
            assertEquals(55, Launch.classFileMajor(command), line);
        }
    }
}
