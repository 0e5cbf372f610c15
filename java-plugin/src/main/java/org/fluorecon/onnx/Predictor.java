package org.fluorecon.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.Model;
import org.fluorecon.core.ModelCard;
import org.fluorecon.core.ModelCardException;

/**
 * A fluorecon model loaded in ONNX Runtime: its card, its tensor names (read from the session,
 * never assumed) and the execution provider that actually runs it.
 *
 * <p>Sessions are cached, keyed by model path (plus file size/time, thread count and GPU
 * request), so running a command again on the next image does not reload the model. A
 * {@code Predictor} is a handle on a cached session: do not close the session yourself; call
 * {@link #clearCache()} to release native memory.
 */
public final class Predictor implements Model {

    public static final String CPU = "CPUExecutionProvider";
    public static final String CUDA = "CUDAExecutionProvider";
    /** Sessions kept open; models can be large, so only the most recent few. */
    static final int CACHE_SIZE = 3;

    private static final Map<Key, Predictor> CACHE = new LinkedHashMap<>(8, 0.75f, true);

    private final Path path;
    private final OrtEnvironment env;
    private final OrtSession session;
    private final ModelCard card;
    private final String inputName;
    private final String outputName;
    private final long[] inputShape;
    private final String provider;
    private final String providerNote;
    private final int threads;
    private String sha256;
    private OnnxTensor pinned;
    private FloatBuffer pinnedBuffer;
    private long[] pinnedShape;

    private Predictor(Path path, OrtEnvironment env, OrtSession session, String provider, String providerNote,
                      int threads) throws OrtException {
        this.path = path;
        this.env = env;
        this.session = session;
        this.provider = provider;
        this.providerNote = providerNote;
        this.threads = threads;
        this.card = ModelCard.fromMetadata(session.getMetadata().getCustomMetadata());
        Iterator<String> in = session.getInputNames().iterator();
        Iterator<String> out = session.getOutputNames().iterator();
        if (!in.hasNext() || !out.hasNext()) {
            throw new FluoreconException("Model " + path + " has no input or no output tensor.");
        }
        this.inputName = in.next();
        this.outputName = out.next();
        NodeInfo info = session.getInputInfo().get(inputName);
        if (!(info.getInfo() instanceof TensorInfo)) {
            throw new FluoreconException("Model " + path + " input '" + inputName + "' is not a tensor.");
        }
        this.inputShape = ((TensorInfo) info.getInfo()).getShape();
        if (inputShape.length != card.axesIn.length()) {
            throw new ModelCardException("Model " + path.getFileName() + " input '" + inputName + "' has "
                    + inputShape.length + " dimensions but its card says axes.in = '" + card.axesIn + "'.");
        }
    }

    /**
     * Opens (or reuses) a session for a model file.
     *
     * @param model   path of the .onnx file
     * @param threads intra-op threads; 0 lets ONNX Runtime choose (all physical cores)
     * @param useGpu  try the CUDA provider; CPU is used when it is not available
     * @throws FluoreconException with a message naming the file when it is missing, unreadable or has no card
     */
    public static Predictor open(Path model, int threads, boolean useGpu) {
        Objects.requireNonNull(model, "model");
        if (threads < 0) {
            throw new FluoreconException("threads = " + threads + " is negative; use 0 for automatic or a positive count.");
        }
        if (!Files.isRegularFile(model)) {
            throw new FluoreconException("Model file not found: " + model);
        }
        try {
            if (Files.size(model) == 0) {
                throw new FluoreconException("Model file " + model + " is empty (0 bytes); re-download or re-export it.");
            }
        } catch (IOException e) {
            throw new FluoreconException("Cannot read model file " + model + ": " + e.getMessage(), e);
        }
        Path abs = model.toAbsolutePath().normalize();
        Key key;
        try {
            key = new Key(abs.toString(), Files.size(abs), Files.getLastModifiedTime(abs).toMillis(), threads, useGpu);
        } catch (IOException e) {
            throw new FluoreconException("Model file " + model + " cannot be read: " + e.getMessage(), e);
        }
        synchronized (CACHE) {
            Predictor cached = CACHE.get(key);
            if (cached != null) {
                return cached;
            }
            Predictor p = load(abs, threads, useGpu);
            CACHE.put(key, p);
            while (CACHE.size() > CACHE_SIZE) {
                Iterator<Map.Entry<Key, Predictor>> it = CACHE.entrySet().iterator();
                Predictor old = it.next().getValue();
                it.remove();
                old.closeSession();
            }
            return p;
        }
    }

    private static Predictor load(Path path, int threads, boolean useGpu) {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        String note = "";
        if (useGpu) {
            if (OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
                try (OrtSession.SessionOptions opts = options(threads)) {
                    opts.addCUDA(0);
                    OrtSession s = env.createSession(path.toString(), opts);
                    try {
                        return new Predictor(path, env, s, CUDA, "", threads);
                    } catch (OrtException | RuntimeException e) {
                        closeQuietly(s);
                        throw wrap(path, e);
                    }
                } catch (OrtException e) {
                    note = "CUDA requested but it failed to start (" + firstLine(e.getMessage()) + "); ran on CPU";
                }
            } else {
                note = "CUDA requested but this ONNX Runtime build has no CUDA provider; ran on CPU";
            }
        }
        try (OrtSession.SessionOptions opts = options(threads)) {
            OrtSession s = createSession(env, path, opts);
            try {
                return new Predictor(path, env, s, CPU, note, threads);
            } catch (OrtException | RuntimeException e) {
                closeQuietly(s);
                throw wrap(path, e);
            }
        } catch (OrtException e) {
            throw wrap(path, e);
        }
    }

    /**
     * ONNX Runtime's reason without its error code, the path it repeats and the C++ frame, e.g.
     * "Protobuf parsing failed." or "ModelProto does not have a graph.".
     */
    static String ortReason(String message) {
        String m = firstLine(message);
        int failed = m.lastIndexOf(" failed:");
        if (failed >= 0) {
            m = m.substring(failed + " failed:".length());
        }
        return m.replaceFirst("^\\S+\\.(cc|cpp|h):\\d+ \\S+\\(.*?\\) (?=[A-Z])", "").trim();
    }

    private static OrtSession createSession(OrtEnvironment env, Path path, OrtSession.SessionOptions opts) {
        try {
            return env.createSession(path.toString(), opts);
        } catch (OrtException e) {
            throw new FluoreconException("Model file " + path + " is not a readable ONNX model ("
                    + ortReason(e.getMessage()) + "); re-download or re-export it.", e);
        }
    }

    private static OrtSession.SessionOptions options(int threads) throws OrtException {
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (threads > 0) {
            opts.setIntraOpNumThreads(threads);
        }
        return opts;
    }

    private static RuntimeException wrap(Path path, Exception e) {
        if (e instanceof FluoreconException) {
            return (FluoreconException) e;
        }
        return new FluoreconException("Model file " + path + " could not be loaded: " + firstLine(e.getMessage()), e);
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }

    private static void closeQuietly(OrtSession s) {
        try {
            s.close();
        } catch (OrtException ignored) {
            // closing after a failed load: nothing more to report than the load error
        }
    }

    /** Closes every cached session. */
    public static void clearCache() {
        synchronized (CACHE) {
            for (Predictor p : CACHE.values()) {
                p.closeSession();
            }
            CACHE.clear();
        }
    }

    private synchronized void closeSession() {
        releasePinned();
        closeQuietly(session);
    }

    /**
     * Runs one tile. The output is written by ONNX Runtime straight into a direct buffer kept
     * for the current tile shape (no per-tile allocation); the returned view is valid until the
     * next call. Synchronized because that buffer is shared.
     */
    @Override
    public synchronized FloatBuffer run(FloatBuffer input, long[] shape) throws OrtException {
        long[] outShape = outputShape(shape);
        if (pinned == null || !Arrays.equals(pinnedShape, outShape)) {
            releasePinned();
            long n = 1;
            for (long d : outShape) {
                n *= d;
            }
            pinnedBuffer = ByteBuffer.allocateDirect(Math.toIntExact(n * Float.BYTES)).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            pinned = OnnxTensor.createTensor(env, pinnedBuffer, outShape);
            pinnedShape = outShape;
        }
        try (OnnxTensor tensor = OnnxTensor.createTensor(env, input, shape);
             OrtSession.Result result = session.run(Collections.singletonMap(inputName, tensor),
                     Collections.singletonMap(outputName, pinned))) {
            if (result.size() < 1) {
                throw new FluoreconException("Model output '" + outputName + "' is missing from the result.");
            }
        } catch (OrtException e) {
            throw new FluoreconException("Model '" + path.getFileName() + "' failed on a tile of shape "
                    + Arrays.toString(shape) + " (expected output " + Arrays.toString(outShape) + " from its card): "
                    + firstLine(e.getMessage()), e);
        }
        FloatBuffer view = pinnedBuffer.duplicate();
        view.clear();
        return view;
    }

    /** Output shape the card promises for an input tile: (1, channels.out, *tile * scale). */
    private long[] outputShape(long[] inShape) {
        long[] out = inShape.clone();
        out[1] = card.channelsOut;
        for (int a = 0; a < card.ndim(); a++) {
            out[2 + a] = inShape[2 + a] * card.scale[a];
        }
        return out;
    }

    private void releasePinned() {
        if (pinned != null) {
            pinned.close();
            pinned = null;
            pinnedBuffer = null;
            pinnedShape = null;
        }
    }

    public ModelCard card() {
        return card;
    }

    public Path path() {
        return path;
    }

    /** The execution provider the session runs on: {@link #CPU} or {@link #CUDA}. */
    public String provider() {
        return provider;
    }

    /** Why the provider differs from what was requested; empty when it does not. */
    public String providerNote() {
        return providerNote;
    }

    public int threads() {
        return threads;
    }

    public String inputName() {
        return inputName;
    }

    public String outputName() {
        return outputName;
    }

    /** Declared input shape; -1 marks a dynamic dimension. */
    public long[] inputShape() {
        return inputShape.clone();
    }

    /**
     * Spatial tile size fixed by the graph (per spatial axis; 0 where dynamic), so a model
     * exported with a static shape gets tiles of exactly that size.
     */
    public int[] fixedTile() {
        int nd = card.ndim();
        int[] out = new int[nd];
        for (int a = 0; a < nd; a++) {
            long d = inputShape[2 + a];
            out[a] = d > 0 ? (int) d : 0;
        }
        return out;
    }

    /** SHA-256 of the model file, hex. */
    public synchronized String sha256() {
        if (sha256 == null) {
            sha256 = sha256(path);
        }
        return sha256;
    }

    public static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            StringBuilder sb = new StringBuilder();
            for (byte b : md.digest()) {
                sb.append(String.format("%02x", b));
            }
            return sb.toString();
        } catch (IOException e) {
            throw new FluoreconException("Model file " + file + " cannot be read: " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static final class Key {
        final String path;
        final long size;
        final long modified;
        final int threads;
        final boolean gpu;

        Key(String path, long size, long modified, int threads, boolean gpu) {
            this.path = path;
            this.size = size;
            this.modified = modified;
            this.threads = threads;
            this.gpu = gpu;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Key)) {
                return false;
            }
            Key k = (Key) o;
            return path.equals(k.path) && size == k.size && modified == k.modified && threads == k.threads
                    && gpu == k.gpu;
        }

        @Override
        public int hashCode() {
            return Objects.hash(path, size, modified, threads, gpu);
        }
    }
}
