package org.fluorecon.core;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads {@code metadata_props} straight from an ONNX file's protobuf, skipping the graph, so the
 * model list can show every card without loading a single network into ONNX Runtime.
 */
public final class OnnxMetadata {

    private static final int MODEL_METADATA_PROPS = 14;

    private OnnxMetadata() {
    }

    /** The metadata of {@code file}; {@link ModelCardException} naming the file when it is not ONNX. */
    public static Map<String, String> read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ModelCardException("Model file not found: " + file);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Reader r = new Reader(ch);
            Map<String, String> out = new LinkedHashMap<>();
            boolean sawField = false;
            while (!r.atEnd()) {
                long tag = r.varint();
                int field = (int) (tag >>> 3);
                int wire = (int) (tag & 7);
                if (field == 0) {
                    throw new IOException("field number 0");
                }
                sawField = true;
                if (field == MODEL_METADATA_PROPS && wire == 2) {
                    byte[] entry = r.bytes((int) r.varint());
                    readEntry(entry, out);
                } else {
                    r.skip(wire);
                }
            }
            if (!sawField) {
                throw new IOException("empty file");
            }
            return out;
        } catch (IOException | RuntimeException e) {
            if (e instanceof ModelCardException) {
                throw (ModelCardException) e;
            }
            ModelCardException unreadable = new ModelCardException("Model file " + file
                    + " is not a readable ONNX model (" + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()) + "); re-download or re-export it.");
            unreadable.initCause(e);
            throw unreadable;
        }
    }

    private static void readEntry(byte[] entry, Map<String, String> out) throws IOException {
        Reader r = new Reader(entry);
        String key = "";
        String value = "";
        while (!r.atEnd()) {
            long tag = r.varint();
            int field = (int) (tag >>> 3);
            int wire = (int) (tag & 7);
            if (wire == 2 && (field == 1 || field == 2)) {
                String s = new String(r.bytes((int) r.varint()), StandardCharsets.UTF_8);
                if (field == 1) {
                    key = s;
                } else {
                    value = s;
                }
            } else {
                r.skip(wire);
            }
        }
        out.put(key, value);
    }

    /** Minimal protobuf wire reader over a file channel or a byte array. */
    private static final class Reader {
        private final FileChannel ch;
        private final ByteBuffer buf;

        Reader(FileChannel ch) {
            this.ch = ch;
            this.buf = ByteBuffer.allocate(1 << 16);
            buf.flip();
        }

        Reader(byte[] bytes) {
            this.ch = null;
            this.buf = ByteBuffer.wrap(bytes);
        }

        boolean atEnd() throws IOException {
            return !fill(1);
        }

        private boolean fill(int n) throws IOException {
            if (buf.remaining() >= n) {
                return true;
            }
            if (ch == null) {
                return false;
            }
            buf.compact();
            while (buf.position() < n) {
                if (ch.read(buf) < 0) {
                    break;
                }
            }
            buf.flip();
            return buf.remaining() >= n;
        }

        byte get() throws IOException {
            if (!fill(1)) {
                throw new EOFException("truncated");
            }
            return buf.get();
        }

        long varint() throws IOException {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                byte b = get();
                v |= (long) (b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                    return v;
                }
            }
            throw new IOException("malformed varint");
        }

        byte[] bytes(int n) throws IOException {
            if (n < 0 || n > (1 << 28)) {
                throw new IOException("implausible length " + n);
            }
            byte[] out = new byte[n];
            int done = 0;
            while (done < n) {
                if (!fill(1)) {
                    throw new EOFException("truncated");
                }
                int k = Math.min(n - done, buf.remaining());
                buf.get(out, done, k);
                done += k;
            }
            return out;
        }

        void skipBytes(long n) throws IOException {
            if (n < 0) {
                throw new IOException("negative length");
            }
            long inBuf = Math.min(n, buf.remaining());
            buf.position(buf.position() + (int) inBuf);
            long rest = n - inBuf;
            if (rest > 0) {
                if (ch == null || ch.position() + rest > ch.size()) {
                    throw new EOFException("truncated");
                }
                ch.position(ch.position() + rest);
            }
        }

        void skip(int wire) throws IOException {
            switch (wire) {
                case 0:
                    varint();
                    break;
                case 1:
                    skipBytes(8);
                    break;
                case 2:
                    skipBytes(varint());
                    break;
                case 5:
                    skipBytes(4);
                    break;
                default:
                    throw new IOException("unsupported wire type " + wire);
            }
        }
    }
}
