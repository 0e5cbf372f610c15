package org.fluorecon.server;

import org.fluorecon.core.FluoreconException;

/** The server could not be reached or refused a request; the message says what to do. */
public class ServerException extends FluoreconException {
    private static final long serialVersionUID = 1L;
    private final int status;

    public ServerException(int status, String message) {
        super(message);
        this.status = status;
    }

    public ServerException(int status, String message, Throwable cause) {
        super(message, cause);
        this.status = status;
    }

    /** HTTP status; 0 when no answer came (server not running). */
    public int status() {
        return status;
    }
}
