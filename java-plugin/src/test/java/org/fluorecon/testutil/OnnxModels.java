package org.fluorecon.testutil;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes tiny real ONNX models (protobuf by hand) with any model card, so tests can exercise
 * card checks and exact stitching without Python: {@code Identity} (output = input) and
 * {@code Concat(input, input)} (two output channels, for "mean,scale" cards).
 */
public final class OnnxModels {
    private OnnxModels() {
    }

    /** A card for a {@code ndim}-D denoise model with the given tiling; callers override keys. */
    public static Map<String, String> card(int ndim, int multiple, int halo, int tile) {
        Map<String, String> m = new LinkedHashMap<>();
        String axes = ndim == 2 ? "bcyx" : "bczyx";
        m.put("fluorecon.format", "1");
        m.put("fluorecon.version", "0.1.0");
        m.put("task", "denoise");
        m.put("method", "identity");
        m.put("name", "identity-" + ndim + "d");
        m.put("axes.in", axes);
        m.put("axes.out", axes);
        m.put("channels.in", "1");
        m.put("channels.out", "1");
        m.put("tile.multiple", rep(multiple, ndim));
        m.put("tile.halo", rep(halo, ndim));
        m.put("tile.default", rep(tile, ndim));
        m.put("scale", rep(1, ndim));
        m.put("norm", "percentile:1:99.8");
        m.put("outputs", "mean");
        m.put("metrics.val_psnr", "12.5");
        return m;
    }

    private static String rep(int v, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(i == 0 ? "" : ",").append(v);
        }
        return sb.toString();
    }

    /** Identity network ({@code channelsOut} 1) or input duplicated ({@code channelsOut} 2). */
    public static Path write(Path file, Map<String, String> meta, int ndim, int channelsOut) throws IOException {
        Proto node = new Proto();
        node.str(1, "input");
        if (channelsOut == 2) {
            node.str(1, "input");
        }
        node.str(2, "output");
        node.str(3, "n0");
        node.str(4, channelsOut == 2 ? "Concat" : "Identity");
        if (channelsOut == 2) {
            Proto attr = new Proto();
            attr.str(1, "axis");
            attr.varint(3, 1);
            attr.varint(20, 2); // AttributeType.INT
            node.msg(5, attr);
        }
        Proto graph = new Proto();
        graph.msg(1, node);
        graph.str(2, "g");
        graph.msg(11, valueInfo("input", ndim, 1));
        graph.msg(12, valueInfo("output", ndim, channelsOut));
        Proto model = new Proto();
        model.varint(1, 8); // ir_version
        model.str(2, "fluorecon-tests");
        model.msg(7, graph);
        Proto opset = new Proto();
        opset.str(1, "");
        opset.varint(2, 17);
        model.msg(8, opset);
        for (Map.Entry<String, String> e : meta.entrySet()) {
            Proto kv = new Proto();
            kv.str(1, e.getKey());
            kv.str(2, e.getValue());
            model.msg(14, kv);
        }
        Files.write(file, model.bytes());
        return file;
    }

    private static Proto valueInfo(String name, int ndim, int channels) {
        Proto shape = new Proto();
        Proto b = new Proto();
        b.str(2, "b");
        shape.msg(1, b);
        Proto c = new Proto();
        c.varint(1, channels);
        shape.msg(1, c);
        for (int a = 0; a < ndim; a++) {
            Proto d = new Proto();
            d.str(2, "s" + a);
            shape.msg(1, d);
        }
        Proto tensor = new Proto();
        tensor.varint(1, 1); // FLOAT
        tensor.msg(2, shape);
        Proto type = new Proto();
        type.msg(1, tensor);
        Proto vi = new Proto();
        vi.str(1, name);
        vi.msg(2, type);
        return vi;
    }

    /** Protobuf message writer. */
    static final class Proto {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        void varint(int field, long v) {
            tag(field, 0);
            raw(v);
        }

        void str(int field, String s) {
            bytes(field, s.getBytes(StandardCharsets.UTF_8));
        }

        void msg(int field, Proto p) {
            bytes(field, p.bytes());
        }

        void bytes(int field, byte[] b) {
            tag(field, 2);
            raw(b.length);
            out.write(b, 0, b.length);
        }

        byte[] bytes() {
            return out.toByteArray();
        }

        private void tag(int field, int wire) {
            raw(((long) field << 3) | wire);
        }

        private void raw(long v) {
            while ((v & ~0x7fL) != 0) {
                out.write((int) ((v & 0x7f) | 0x80));
                v >>>= 7;
            }
            out.write((int) v);
        }
    }
}
