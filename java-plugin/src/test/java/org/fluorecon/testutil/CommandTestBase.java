package org.fluorecon.testutil;

import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import java.util.concurrent.atomic.AtomicReference;
import org.fluorecon.tasks.denoise.Denoise_;

/**
 * Runs a command the way ImageJ's macro runner does, headless: on a thread named {@code Run$_...}
 * with the macro options set for that thread and the image as its current image.
 */
public abstract class CommandTestBase {

    /** Outcome of one command run: the command object and the exception it threw, if any. */
    public static final class Run<T> {
        public final T command;
        public final RuntimeException error;

        Run(T command, RuntimeException error) {
            this.command = command;
            this.error = error;
        }
    }

    public static Run<Denoise_> denoise(ImagePlus imp, String options) throws InterruptedException {
        return run(new Denoise_(), imp, options);
    }

    public static <T extends ij.plugin.PlugIn> Run<T> run(T command, ImagePlus imp, String options)
            throws InterruptedException {
        AtomicReference<RuntimeException> error = new AtomicReference<>();
        Thread t = new Thread(() -> {
            Macro.setOptions(Thread.currentThread(), options);
            WindowManager.setTempCurrentImage(imp);
            try {
                command.run("");
            } catch (RuntimeException e) {
                error.set(e);
            } finally {
                Macro.setOptions(Thread.currentThread(), null);
                WindowManager.setTempCurrentImage(null);
            }
        }, "Run$_fluorecon-test");
        t.start();
        t.join();
        return new Run<>(command, error.get());
    }
}
