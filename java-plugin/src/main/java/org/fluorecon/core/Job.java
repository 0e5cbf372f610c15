package org.fluorecon.core;

/**
 * The life of one piece of work a command runs, local or on the server: check the input, process
 * with progress (Esc cancels), then either a result or an error message in the user's words.
 */
public interface Job {
    /** Validates the input and settings; false with {@link #getErrorMessage()}. */
    boolean checkInput();

    /** Runs the work; false when it failed or was cancelled ({@link #isCancelled()}). */
    boolean process(Progress progress);

    boolean isCancelled();

    String getErrorMessage();
}
