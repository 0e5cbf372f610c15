package org.fluorecon.core;

import java.nio.file.Path;

/** A loaded network with its card and provenance; {@code org.fluorecon.onnx.Predictor} is the real one. */
public interface Model extends TileModel {
    ModelCard card();

    Path path();

    /** Execution provider that actually runs the model, e.g. "CPUExecutionProvider". */
    String provider();

    /** Why the provider differs from the request; empty when it does not. */
    String providerNote();

    String sha256();

    /** Spatial tile size fixed by the graph per axis; 0 where dynamic. */
    int[] fixedTile();

    /** Opens a model file. */
    @FunctionalInterface
    interface Opener {
        Model open(Path file, int threads, boolean useGpu);
    }
}
