package org.fluorecon.ij;

import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs a command the way ImageJ's macro runner does, headless: on a thread named {@code Run$_...}
 * with the macro options set for that thread and the image as its current image.
 */
abstract class CommandTestBase {

    /** Outcome of one command run: the command object and the exception it threw, if any. */
    static final class Run<T> {
        final T command;
        final RuntimeException error;

        Run(T command, RuntimeException error) {
            this.command = command;
            this.error = error;
        }
    }

    static Run<Denoise_> denoise(ImagePlus imp, String options) throws InterruptedException {
        return run(new Denoise_(), imp, options);
    }

    static <T extends ij.plugin.PlugIn> Run<T> run(T command, ImagePlus imp, String options)
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
