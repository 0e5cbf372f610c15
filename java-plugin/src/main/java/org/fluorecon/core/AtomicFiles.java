package org.fluorecon.core;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The temporary-file-then-rename steps of every output the plugin writes (DESIGN.md: a failed run
 * leaves no partial file). {@link Files#createTempFile} makes owner-only (0600) files, which would
 * leave results unreadable to the rest of a lab's group; outputs get ordinary rw-r--r-- instead.
 */
public final class AtomicFiles {

    private AtomicFiles() {
    }

    /** What goes into a file. */
    public interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    /**
     * Writes {@code path} through a temporary file beside it that is renamed into place, so a failure
     * leaves no partial file; an IOException in the user's words when the folder does not exist.
     */
    public static void write(Path path, Content content) throws IOException {
        Path target = path.toAbsolutePath();
        Path dir = target.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IOException("Folder " + dir + " does not exist; create it or choose another save= path.");
        }
        Path tmp = tempBeside(target);
        try {
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
                content.writeTo(out);
            }
            moveInto(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** {@link #write} of a UTF-8 text. */
    public static void writeText(Path path, String text) throws IOException {
        write(path, out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
    }

    /** A new, empty temporary file in {@code target}'s folder, readable like an ordinary file. */
    public static Path tempBeside(Path target) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + target.getFileName(), ".part");
        if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
        }
        return tmp;
    }

    /** Renames {@code tmp} onto {@code target}: atomically where the file system can, else a plain replace. */
    public static void moveInto(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
