package org.fluorecon.ij;

import ij.IJ;
import java.util.ArrayList;
import java.util.List;
import org.fluorecon.core.Progress;

/** Progress in ImageJ's bar and status line (at most every 100 ms); Esc cancels. Keeps the fractions shown. */
final class StatusProgress implements Progress {
    private final String label;
    private final String unit;
    private final List<Double> shown = new ArrayList<>();
    private long last;

    /**
     * @param label e.g. "Deconvolve"
     * @param unit  what is counted, e.g. "frame"; null shows a percentage
     */
    StatusProgress(String label, String unit) {
        this.label = label;
        this.unit = unit;
    }

    @Override
    public void update(long done, long total) {
        long now = System.currentTimeMillis();
        if (now - last > 100 || done == total) {
            last = now;
            double f = total > 0 ? (double) done / total : 0;
            synchronized (shown) {
                shown.add(f);
            }
            IJ.showProgress(f);
            IJ.showStatus(label + ": " + (unit == null ? Math.round(f * 100) + "%" : unit + " " + done + "/" + total)
                    + " (Esc cancels)");
        }
    }

    @Override
    public boolean isCancelled() {
        return IJ.escapePressed();
    }

    /** The fractions shown so far. */
    double[] history() {
        synchronized (shown) {
            return shown.stream().mapToDouble(Double::doubleValue).toArray();
        }
    }
}
