package org.fluorecon.testutil;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.fluorecon.server.Json;

/** The shared Python/Java test vectors; tests that need them are skipped when they are absent. */
public final class Vectors {
    private Vectors() {
    }

    public static Path dir() {
        return Path.of(System.getProperty("fluorecon.vectors", "../tests/vectors"));
    }

    /** A vector file; skips the calling test when the folder or file is missing. */
    public static Path file(String name) {
        Path p = dir().resolve(name);
        assumeTrue(Files.isRegularFile(p), "shared test vector " + p + " not present");
        return p;
    }

    /** A vector file parsed as JSON; skips the calling test when it is missing. */
    public static Object json(String name) throws IOException {
        return Json.parse(Files.readString(file(name)));
    }
}
