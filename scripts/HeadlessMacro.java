import java.lang.reflect.InvocationTargetException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

import net.imagej.patcher.LegacyEnvironment;

/**
 * Runs ImageJ macros headless the way Fiji's --headless does: through ij1-patcher, which rewrites
 * ImageJ1's classes (GenericDialog reads macro options, no AWT) before they load. No ij.* import
 * here: loading an ImageJ class before patching makes the patcher refuse.
 *
 * Exit status: 0 when every macro ran to its end (or stopped at its own {@code exit}), 1 when one
 * was aborted by an error: a command that failed (fluorecon's commands abort the macro with their
 * message in the Log), a macro error (e.g. "There are no images open"), or an exception such as the
 * OutOfMemoryError ImageJ's opener throws on a file whose header declares an absurd size. Fiji's own
 * --headless launcher exits 0 in all these cases; this runner is what the project's demo and tests use.
 *
 * Usage: java --add-opens=java.base/java.lang=ALL-UNNAMED -Dplugins.dir=DIR -cp CP HeadlessMacro.java MACRO.ijm [ARG]
 *        (ARG is what the macro's getArgument() returns), or
 *        ... HeadlessMacro.java --each M1.ijm M2.ijm ...   (one JVM, each macro in turn with all images
 *        closed before it; one line "HeadlessMacro: M: done" or "HeadlessMacro: M: aborted: MESSAGE" each)
 */
public class HeadlessMacro {
    public static void main(String[] args) throws Exception {
        LegacyEnvironment ij1 = new LegacyEnvironment(null, true);
        ij1.runMacro("", ""); // patches and loads ImageJ1
        ClassLoader loader = ij1.getClassLoader();
        int failed = 0;
        if (args.length > 0 && args[0].equals("--each")) {
            for (int i = 1; i < args.length; i++) {
                run(loader, "close(\"*\");", "");
                String error = run(loader, read(args[i]), "");
                System.out.println("HeadlessMacro: " + args[i] + ": " + (error == null ? "done" : "aborted: " + error));
                System.out.flush();
                failed += error == null ? 0 : 1;
            }
        } else {
            String error = run(loader, read(args[0]), args.length > 1 ? args[1] : "");
            if (error != null) {
                System.err.println("HeadlessMacro: " + args[0] + ": aborted: " + error);
                failed++;
            }
        }
        // ImageJ threads must not keep the JVM alive after the macros.
        System.exit(failed == 0 ? 0 : 1);
    }

    private static String read(String path) throws Exception {
        return new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.UTF_8);
    }

    /**
     * Runs {@code macro} on this thread as ImageJ's macro runner does; null when it ended normally,
     * else why it was aborted.
     */
    private static String run(ClassLoader loader, String macro, String arg) throws Exception {
        Thread thread = Thread.currentThread();
        String savedName = thread.getName();
        ClassLoader savedLoader = thread.getContextClassLoader();
        thread.setName("Run$_" + savedName);
        thread.setContextClassLoader(loader);
        try {
            Class<?> interpreter = Class.forName("ij.macro.Interpreter", true, loader);
            Object interp = interpreter.getConstructor().newInstance();
            try {
                interpreter.getMethod("run", String.class, String.class).invoke(interp, macro, arg);
            } catch (InvocationTargetException e) {
                Throwable cause = e.getCause();
                if (!"Macro canceled".equals(cause.getMessage())) { // not exit or a reported macro error
                    interpreter.getMethod("abortMacro").invoke(interp);
                    cause.printStackTrace();
                    return cause.toString();
                }
            }
            Object message = interpreter.getMethod("getErrorMessage").invoke(interp);
            boolean wasError = (Boolean) interpreter.getMethod("wasError").invoke(interp);
            if (message != null || wasError) {
                return message == null ? "macro error" : message.toString();
            }
            return null;
        } finally {
            thread.setName(savedName);
            thread.setContextClassLoader(savedLoader);
        }
    }
}
