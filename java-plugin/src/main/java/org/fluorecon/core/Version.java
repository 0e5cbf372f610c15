package org.fluorecon.core;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The plugin's version, from the jar's filtered resource. */
public final class Version {
    private static final String VERSION = load();

    private Version() {
    }

    public static String get() {
        return VERSION;
    }

    private static String load() {
        try (InputStream in = Version.class.getResourceAsStream("/fluorecon-version.properties")) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version", "");
                if (!v.isEmpty() && !v.startsWith("$")) {
                    return v;
                }
            }
        } catch (IOException ignored) {
            // fall through to "unknown": the version only labels provenance
        }
        return "unknown";
    }
}
