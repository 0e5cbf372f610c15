package org.fluorecon.testutil;

import java.nio.file.Path;
import org.fluorecon.onnx.Predictor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fixture the local-model tests share: identity models with a denoising card ({@link OnnxModels}), a 2D one
 * (tile default 32, multiple 8) and a 3D one, written once per test class into its temporary folder; the cached
 * ONNX Runtime sessions are released after the class.
 */
public abstract class IdentityModelsTest extends CommandTestBase {
    @TempDir
    protected static Path tmp;
    protected static Path model2d;
    protected static Path model3d;

    @BeforeAll
    static void writeIdentityModels() throws Exception {
        model2d = OnnxModels.write(tmp.resolve("id2d.onnx"), OnnxModels.card(2, 4, 8, 32), 2, 1);
        model3d = OnnxModels.write(tmp.resolve("id3d.onnx"), OnnxModels.card(3, 2, 2, 8), 3, 1);
    }

    @AfterAll
    static void releaseSessions() {
        Predictor.clearCache();
    }
}
