package org.fluorecon.testutil;

import org.fluorecon.core.Progress;

/** Progress stand-ins for job tests. */
public final class Progresses {
    /** The user pressed Esc before the first tile. */
    public static final Progress CANCELLED = new Progress() {
        @Override
        public void update(long done, long total) {
        }

        @Override
        public boolean isCancelled() {
            return true;
        }
    };

    private Progresses() {
    }
}
