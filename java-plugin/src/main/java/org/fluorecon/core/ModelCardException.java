package org.fluorecon.core;

/** A model file without a usable card: missing, corrupt, or of an unknown format. */
public class ModelCardException extends FluoreconException {
    private static final long serialVersionUID = 1L;

    public ModelCardException(String message) {
        super(message);
    }
}
