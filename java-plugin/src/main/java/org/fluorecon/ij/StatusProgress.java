package org.fluorecon.ij;

import ij.IJ;
import java.util.ArrayList;
import java.util.List;
import org.fluorecon.core.Progress;

/** Progress in ImageJ's bar and status line (at most every 100 ms); Esc cancels. Keeps the fractions shown. */
public final class StatusProgress implements Progress {
    private final String label;
    private final String unit;
    private final List<Double> shown = new ArrayList<>();
    private long last;
    private final List<String> messages = new ArrayList<>();
    private volatile String text;

    /**
     * @param label e.g. "Deconvolve"
     * @param unit  what is counted, e.g. "frame"; null shows a percentage
     */
    public StatusProgress(String label, String unit) {
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
            String detail = text == null ? "" : ", " + text;
            IJ.showStatus(label + ": " + (unit == null ? Math.round(f * 100) + "%" : unit + " " + done + "/" + total)
                    + detail + " (Esc cancels)");
        }
    }

    @Override
    public void message(String text) {
        this.text = text;
        synchronized (messages) {
            if (messages.isEmpty() || !messages.get(messages.size() - 1).equals(text)) {
                messages.add(text);
            }
        }
    }

    /** The messages received so far (consecutive repeats once). */
    public String[] messages() {
        synchronized (messages) {
            return messages.toArray(new String[0]);
        }
    }

    @Override
    public boolean isCancelled() {
        return IJ.escapePressed();
    }

    /** The fractions shown so far. */
    public double[] history() {
        synchronized (shown) {
            return shown.stream().mapToDouble(Double::doubleValue).toArray();
        }
    }
}
