package org.fluorecon.core;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Installed models: every {@code *.onnx} in a list of folders; the first folder wins a name clash. */
public final class ModelLibrary {

    public static final String PROPERTY = "fluorecon.models";
    public static final String ENV = "FLUORECON_MODELS";

    private ModelLibrary() {
    }

    /**
     * Folders searched, in order: {@code <imagej>/models/fluorecon}, the folder in system property
     * {@value #PROPERTY}, then environment variable {@value #ENV}.
     */
    public static List<Path> folders(String imagejDir) {
        List<Path> out = new ArrayList<>();
        if (imagejDir != null && !imagejDir.isEmpty()) {
            out.add(Path.of(imagejDir, "models", "fluorecon"));
        }
        for (String s : new String[] {System.getProperty(PROPERTY), System.getenv(ENV)}) {
            if (s != null && !s.isBlank()) {
                out.add(Path.of(s.trim()));
            }
        }
        return out;
    }

    /** Model name (file name without .onnx) -&gt; file, sorted by name within each folder. */
    public static Map<String, Path> list(List<Path> folders) {
        Map<String, Path> out = new LinkedHashMap<>();
        for (Path dir : folders) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            List<Path> files = new ArrayList<>();
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.onnx")) {
                for (Path p : ds) {
                    if (Files.isRegularFile(p)) {
                        files.add(p);
                    }
                }
            } catch (IOException e) {
                continue; // an unreadable folder holds no usable models
            }
            files.sort(null);
            for (Path p : files) {
                String name = p.getFileName().toString();
                out.putIfAbsent(name.substring(0, name.length() - ".onnx".length()), p);
            }
        }
        return out;
    }
}
