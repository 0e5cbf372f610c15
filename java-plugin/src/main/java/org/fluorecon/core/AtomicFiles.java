package org.fluorecon.core;

import java.io.IOException;
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
