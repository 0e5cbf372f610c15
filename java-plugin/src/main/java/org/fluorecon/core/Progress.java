package org.fluorecon.core;

/** Progress and cancellation, supplied by the caller (status bar and Esc in ImageJ). */
public interface Progress {
    /** Called after each unit of work; {@code done} of {@code total}. */
    void update(long done, long total);

    /** True when the user asked to stop; checked between tiles. */
    boolean isCancelled();

    /** A line about the work in progress, e.g. the server's "step 120/1000, loss 0.0123"; optional. */
    default void message(String text) {
    }

    Progress NONE = new Progress() {
        @Override
        public void update(long done, long total) {
        }

        @Override
        public boolean isCancelled() {
            return false;
        }
    };
}
