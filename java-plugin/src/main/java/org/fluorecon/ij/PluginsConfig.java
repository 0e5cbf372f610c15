package org.fluorecon.ij;

import ij.plugin.PlugIn;
import ij.plugin.filter.PlugInFilter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Writes {@code plugins.config} from the {@link Menu} annotations of the compiled commands; the
 * build runs it on {@code target/classes} after compiling, so there is no hand-kept list.
 * Every concrete ImageJ command ({@link PlugIn} or {@link PlugInFilter}) must carry a {@link Menu}.
 * Usage: {@code java -cp classes:ij.jar org.fluorecon.ij.PluginsConfig CLASSES_DIR}.
 */
public final class PluginsConfig {
    /** The plugin's own menu. */
    public static final String MENU = "Plugins>fluorecon";
    /**
     * Every entry's class: org.fluorecon.ij.Launch (src/main/java8, compiled for Java 8) checks that the
     * running Java can load the command, then runs it. Named, not referenced: it is compiled separately.
     */
    public static final String LAUNCHER = "org.fluorecon.ij.Launch";
    static final String HEADER = "# fluorecon: deep-learning fluorescence image reconstruction (ONNX Runtime)\n"
            + "# Generated at build from the @Menu annotations (org.fluorecon.ij.PluginsConfig); do not edit.\n"
            + "# Name: fluorecon\n";

    private PluginsConfig() {
    }

    /** One menu entry. */
    public static final class Entry {
        public final String path;
        public final String label;
        public final String className;

        Entry(String path, String label, String className) {
            this.path = path;
            this.label = label;
            this.className = className;
        }

        /** The plugins.config line: ImageJ runs {@link #LAUNCHER} with the command's class as its argument. */
        public String line() {
            return path + ", \"" + label + "\", " + LAUNCHER + "(\"" + className + "\")";
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            throw new IllegalArgumentException("usage: PluginsConfig CLASSES_DIR");
        }
        Path classes = Path.of(args[0]);
        Files.writeString(classes.resolve("plugins.config"), text(entries(classes)), StandardCharsets.UTF_8);
    }

    /** The menu entries of the commands compiled under {@code classes}, menu by menu, items in order. */
    public static List<Entry> entries(Path classes) {
        List<Entry> out = new ArrayList<>();
        List<String> unmarked = new ArrayList<>();
        for (String name : classNames(classes)) {
            Class<?> c;
            try {
                c = Class.forName(name, false, PluginsConfig.class.getClassLoader());
            } catch (ClassNotFoundException | LinkageError e) {
                throw new IllegalStateException("cannot load " + name + ": " + e, e);
            }
            if (name.equals(LAUNCHER)) {
                continue;
            }
            boolean command = (PlugIn.class.isAssignableFrom(c) || PlugInFilter.class.isAssignableFrom(c))
                    && !Modifier.isAbstract(c.getModifiers()) && Modifier.isPublic(c.getModifiers());
            Menu menu = c.getAnnotation(Menu.class);
            if (command && menu == null) {
                unmarked.add(name);
            } else if (menu != null) {
                out.add(new Entry(menu.path(), menu.label(), name));
            }
        }
        if (!unmarked.isEmpty()) {
            throw new IllegalStateException("ImageJ commands without @Menu (so not in plugins.config): " + unmarked);
        }
        out.sort(Comparator.comparing((Entry e) -> e.path.toLowerCase(Locale.ROOT))
                .thenComparing(e -> e.label.toLowerCase(Locale.ROOT)));
        return out;
    }

    /** The plugins.config text of {@code entries}. */
    public static String text(List<Entry> entries) {
        StringBuilder sb = new StringBuilder(HEADER);
        for (Entry e : entries) {
            sb.append(e.line()).append('\n');
        }
        return sb.toString();
    }

    private static List<String> classNames(Path classes) {
        try (Stream<Path> files = Files.walk(classes)) {
            return files.filter(p -> p.toString().endsWith(".class") && !p.getFileName().toString().contains("$"))
                    .map(p -> {
                        String rel = classes.relativize(p).toString().replace('\\', '/');
                        return rel.substring(0, rel.length() - ".class".length()).replace('/', '.');
                    })
                    .sorted()
                    .collect(Collectors.toList());  // Stream.toList() is Java 16+; the plugin targets 11
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
