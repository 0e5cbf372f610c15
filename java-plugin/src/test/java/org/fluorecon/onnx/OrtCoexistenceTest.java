package org.fluorecon.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtEnvironment;
import java.io.File;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.fluorecon.testutil.OnnxModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX Runtime loaded twice in one JVM, as when another Fiji plugin ships its own copy: once by a second class
 * loader (its own classes and its own extracted natives) and once more as a duplicate jar on the class path.
 * Each case runs in a fresh JVM, so that the other copy really is the first to load the natives.
 */
class OrtCoexistenceTest {
    static final float[] INPUT = {1, 2, 3, 4, 5, 6};

    @Test
    void anotherCopyLoadedFirstInAnotherClassLoader(@TempDir Path tmp) throws Exception {
        assertEquals("ok other-first", runChild(tmp, "other-first"));
    }

    @Test
    void anotherCopyLoadedAfterThePlugin(@TempDir Path tmp) throws Exception {
        assertEquals("ok plugin-first", runChild(tmp, "plugin-first"));
    }

    private static String runChild(Path tmp, String order) throws Exception {
        Path model = OnnxModels.write(tmp.resolve("id.onnx"), OnnxModels.card(2, 4, 8, 32), 2, 1);
        // the same ONNX Runtime jar a second time on the class path, as another plugin's copy in jars/
        Path duplicate = Files.copy(ortJar(), tmp.resolve("other-plugin-onnxruntime.jar"), StandardCopyOption.REPLACE_EXISTING);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("java.class.path") + File.pathSeparator + duplicate;
        Process p = new ProcessBuilder(java, "-Xmx512m", "-cp", cp, Child.class.getName(), order, model.toString(),
                duplicate.toString()).redirectErrorStream(true).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, p.exitValue(), out);
        List<String> lines = out.lines().toList();
        return lines.get(lines.size() - 1);
    }

    static Path ortJar() throws Exception {
        return Path.of(OrtEnvironment.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /** The child JVM: the other copy and the plugin's Predictor both run the identity model. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            String order = args[0];
            Path model = Path.of(args[1]);
            URL otherJar = Path.of(args[2]).toUri().toURL();
            try (URLClassLoader other = new URLClassLoader(new URL[] {otherJar}, ClassLoader.getPlatformClassLoader())) {
                if (order.equals("plugin-first")) {
                    runPlugin(model);
                    runOther(other, model);
                } else {
                    runOther(other, model);
                    runPlugin(model);
                }
                runOther(other, model); // both still usable after each other
                runPlugin(model);
            }
            System.out.println("ok " + order);
        }

        static void runPlugin(Path model) throws Exception {
            Predictor.clearCache();
            Predictor p = Predictor.open(model, 1, false);
            FloatBuffer in = ByteBuffer.allocateDirect(4 * INPUT.length).order(ByteOrder.nativeOrder()).asFloatBuffer();
            in.put(INPUT).flip();
            FloatBuffer out = p.run(in, new long[] {1, 1, 2, 3});
            float[] y = new float[out.remaining()];
            out.get(y);
            assertArrayEquals(INPUT, y, 0f);
        }

        /** ONNX Runtime's public API through reflection: its classes here are not the plugin's. */
        static void runOther(ClassLoader other, Path model) throws Exception {
            Class<?> envClass = other.loadClass("ai.onnxruntime.OrtEnvironment");
            assertNotSame(OrtEnvironment.class, envClass);
            Object env = envClass.getMethod("getEnvironment").invoke(null);
            Class<?> optsClass = other.loadClass("ai.onnxruntime.OrtSession$SessionOptions");
            Object opts = optsClass.getConstructor().newInstance();
            Object session = envClass.getMethod("createSession", String.class, optsClass).invoke(env, model.toString(), opts);
            Class<?> tensorClass = other.loadClass("ai.onnxruntime.OnnxTensor");
            float[][][][] x = {{{{1, 2, 3}, {4, 5, 6}}}};
            Object tensor = tensorClass.getMethod("createTensor", envClass, Object.class).invoke(null, env, x);
            Method run = session.getClass().getMethod("run", Map.class);
            try (AutoCloseable result = (AutoCloseable) run.invoke(session, Map.of("input", tensor))) {
                Object value = result.getClass().getMethod("get", int.class).invoke(result, 0);
                float[][][][] y = (float[][][][]) value.getClass().getMethod("getValue").invoke(value);
                assertArrayEquals(INPUT, new float[] {y[0][0][0][0], y[0][0][0][1], y[0][0][0][2], y[0][0][1][0],
                    y[0][0][1][1], y[0][0][1][2]}, 0f);
            }
            ((AutoCloseable) tensor).close();
            ((AutoCloseable) session).close();
        }
    }
}
