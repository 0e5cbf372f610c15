package org.fluorecon.ij;

/**
 * An output a command keeps from its last run besides the result image (a table, a plot, a model path), for
 * scripts to read; {@link FluoreconCommand} forgets every one when a run starts, so a failed run leaves none.
 * Made with {@link FluoreconCommand#output()}.
 */
public final class Output<T> {
    private T value;

    Output() {
    }

    /** The value of the last successful run; null otherwise. */
    public T get() {
        return value;
    }

    public void set(T value) {
        this.value = value;
    }
}
