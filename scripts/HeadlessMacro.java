import java.nio.file.Files;
import java.nio.file.Paths;

import net.imagej.patcher.LegacyEnvironment;

/**
 * Runs an ImageJ macro headless the way Fiji's --headless does: through ij1-patcher, which
 * rewrites ImageJ1's classes (GenericDialog reads macro options, no AWT) before they load.
 * No ij.* import here: loading an ImageJ class before patching makes the patcher refuse.
 *
 * Usage: java --add-opens=java.base/java.lang=ALL-UNNAMED -Dplugins.dir=DIR -cp CP HeadlessMacro.java MACRO.ijm [ARG]
 * (ARG is what the macro's getArgument() returns)
 */
public class HeadlessMacro {
    public static void main(String[] args) throws Exception {
        String macro = new String(Files.readAllBytes(Paths.get(args[0])), "UTF-8");
        LegacyEnvironment ij1 = new LegacyEnvironment(null, true);
        ij1.runMacro(macro, args.length > 1 ? args[1] : "");
        // ImageJ threads must not keep the JVM alive after the macro.
        System.exit(0);
    }
}
