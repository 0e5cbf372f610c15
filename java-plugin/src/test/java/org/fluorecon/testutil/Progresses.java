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

    /** Records the last (done, total) a job reported; never cancels. */
    public static final class Recorder implements Progress {
        public long done;
        public long total;

        @Override
        public void update(long done, long total) {
            this.done = done;
            this.total = total;
        }

        @Override
        public boolean isCancelled() {
            return false;
        }
    }
}
