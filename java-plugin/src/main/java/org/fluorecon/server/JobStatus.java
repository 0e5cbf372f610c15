package org.fluorecon.server;

import java.util.Map;

/** What the server reports about a job ({@code JobPublic}). */
public final class JobStatus {
    public final String id;
    public final String state;
    public final double progress;
    public final String message;

    public JobStatus(String id, String state, double progress, String message) {
        this.id = id;
        this.state = state;
        this.progress = progress;
        this.message = message == null ? "" : message;
    }

    static JobStatus of(Map<String, Object> m) {
        Object p = m.get("progress");
        Object msg = m.get("message");
        return new JobStatus(String.valueOf(m.get("id")), String.valueOf(m.get("state")),
                p instanceof Number ? ((Number) p).doubleValue() : 0, msg == null ? "" : msg.toString());
    }

    /** Queued or running. */
    public boolean isActive() {
        return "queued".equals(state) || "running".equals(state);
    }

    public boolean succeeded() {
        return "succeeded".equals(state);
    }

    @Override
    public String toString() {
        return "Job " + id + " " + state + " " + Math.round(progress * 100) + "% " + message;
    }
}
