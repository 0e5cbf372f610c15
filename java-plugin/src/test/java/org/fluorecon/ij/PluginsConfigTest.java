package org.fluorecon.ij;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.plugin.PlugIn;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** plugins.config is generated from @Menu: every command is in it, once, and nothing else is. */
class PluginsConfigTest {
    private static Path mainClasses() throws URISyntaxException {
        return Path.of(PluginsConfig.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    @Test
    void everyCommandHasAMenuEntryAndTheBuildWroteThem() throws Exception {
        Path classes = mainClasses();
        List<PluginsConfig.Entry> entries = PluginsConfig.entries(classes); // throws on a command without @Menu
        Set<String> labels = new TreeSet<>();
        for (PluginsConfig.Entry e : entries) {
            Class<?> c = Class.forName(e.className);
            assertTrue(PlugIn.class.isAssignableFrom(c), e.className);
            assertNotNull(c.getAnnotation(Menu.class), e.className);
            assertTrue(e.path.startsWith(PluginsConfig.MENU), e.line());
            assertTrue(labels.add(e.path + ">" + e.label), "two commands named " + e.label);
        }
        assertTrue(labels.contains("Plugins>fluorecon>Denoise..."), labels.toString());
        // the file in the jar is the one the build generated from the same classes
        Path written = classes.resolve("plugins.config");
        assertTrue(Files.isRegularFile(written), "process-classes did not write " + written);
        assertEquals(PluginsConfig.text(entries), Files.readString(written, StandardCharsets.UTF_8));
    }

    @Test
    void everyTaskPackageHasACommand() throws Exception {
        Path tasks = mainClasses().resolve("org/fluorecon/tasks");
        Set<String> withCommand = PluginsConfig.entries(mainClasses()).stream()
                .filter(e -> e.className.startsWith("org.fluorecon.tasks."))
                .map(e -> e.className.split("\\.")[3])
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> packages;
        try (Stream<Path> dirs = Files.list(tasks)) {
            packages = dirs.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                    .collect(Collectors.toCollection(TreeSet::new));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        assertFalse(packages.isEmpty());
        assertEquals(packages, withCommand);
    }
}
