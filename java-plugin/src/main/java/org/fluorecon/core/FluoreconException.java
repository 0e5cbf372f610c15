package org.fluorecon.core;

/**
 * An error the user can act on; its message is shown as is (IJ.error in the GUI, IJ.log and
 * this exception in headless or batch runs).
 */
public class FluoreconException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public FluoreconException(String message) {
        super(message);
    }

    public FluoreconException(String message, Throwable cause) {
        super(message, cause);
    }
}
