package org.fluorecon.core;

import java.nio.FloatBuffer;

/**
 * One forward pass of a network on one tile; implemented over ONNX Runtime by
 * {@code org.fluorecon.onnx.Predictor}, and by plain functions in tests.
 */
@FunctionalInterface
public interface TileModel {
    /**
     * Runs the model.
     *
     * @param input C-order values of shape {@code (1, C_in, *tile)}; a direct buffer, positioned at 0
     * @param shape {@code (1, C_in, *tile)}
     * @return C-order values of shape {@code (1, C_out, *tile * scale)}, positioned at 0
     */
    FloatBuffer run(FloatBuffer input, long[] shape) throws Exception;
}
