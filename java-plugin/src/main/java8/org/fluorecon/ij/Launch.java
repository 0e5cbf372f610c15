package org.fluorecon.ij;

import ij.IJ;
import ij.Menus;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Hashtable;
import java.util.Map;

/**
 * The menu entry of every fluorecon command: plugins.config names {@code Launch("the.command.Class")}.
 * Compiled for Java 8 (class file version 52, a separate compiler run in pom.xml) so that it loads on the
 * oldest Java an ImageJ may run on; the commands themselves need Java 11. On a Java too old for the
 * command's class file it says which Java is needed instead of ImageJ's "Plugin or class not found
 * (UnsupportedClassVersionError ...)"; otherwise it runs the command as ImageJ would have.
 */
public final class Launch implements ij.plugin.PlugIn {
    /** Class file major version N is Java N - 44 (52 = Java 8, 55 = Java 11, 65 = Java 21). */
    static final int JAVA_OFFSET = 44;

    @Override
    public void run(String className) {
        String problem;
        try {
            problem = problem(classFileMajor(className), System.getProperty("java.class.version"),
                    System.getProperty("java.version"));
        } catch (IOException e) {
            problem = "fluorecon: cannot read " + className + " from the plugin jar (" + e.getMessage()
                    + "). Reinstall fluorecon (Help > Update..., update site fluorecon).";
        }
        if (problem != null) {
            IJ.error("fluorecon", problem);
            if (IJ.isMacro()) {
                ij.Macro.abort();
            }
            return;
        }
        IJ.runPlugIn(commandName(className), className, "");
    }

    /**
     * The message for a runtime that cannot load a class file of {@code classMajor}, or null when it can.
     *
     * @param classMajor        the command class's class file major version
     * @param runtimeClassVersion the running JVM's {@code java.class.version} (e.g. "52.0")
     * @param runtimeJava       the running JVM's {@code java.version}, for the message
     */
    static String problem(int classMajor, String runtimeClassVersion, String runtimeJava) {
        int runtimeMajor;
        try {
            runtimeMajor = (int) Double.parseDouble(runtimeClassVersion);
        } catch (NumberFormatException | NullPointerException e) {
            return null; // an unreadable property: let the JVM decide
        }
        if (classMajor <= runtimeMajor) {
            return null;
        }
        return "fluorecon needs Java " + (classMajor - JAVA_OFFSET) + " or newer (class file version "
                + classMajor + "); this ImageJ runs on Java " + runtimeJava + " (class file version "
                + runtimeMajor + ").\nUpdate Fiji to a current release (it ships Java 21), or start ImageJ "
                + "with a Java " + (classMajor - JAVA_OFFSET) + "+ runtime.";
    }

    /** The class file major version of {@code className} as the plugin jar holds it (not loading it). */
    static int classFileMajor(String className) throws IOException {
        String resource = className.replace('.', '/') + ".class";
        ClassLoader loader = Launch.class.getClassLoader();
        InputStream in = loader == null ? null : loader.getResourceAsStream(resource);
        if (in == null) {
            throw new IOException(resource + " not found");
        }
        try (DataInputStream data = new DataInputStream(in)) {
            if (data.readInt() != 0xCAFEBABE) {
                throw new IOException(resource + " is not a class file");
            }
            data.readUnsignedShort(); // minor
            return data.readUnsignedShort();
        }
    }

    /** The menu label whose plugins.config entry launches {@code className} (ImageJ's undo/recorder name). */
    private static String commandName(String className) {
        Hashtable<?, ?> commands = Menus.getCommands(); // raw in ImageJ: label -> plugins.config class entry
        String entry = Launch.class.getName() + "(\"" + className + "\")";
        if (commands != null) {
            for (Map.Entry<?, ?> e : commands.entrySet()) {
                if (entry.equals(e.getValue())) {
                    return String.valueOf(e.getKey());
                }
            }
        }
        return "";
    }
}
