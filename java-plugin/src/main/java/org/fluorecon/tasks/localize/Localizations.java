package org.fluorecon.tasks.localize;

import ij.measure.ResultsTable;
import java.util.Arrays;

/**
 * A localisation table in the conventions of {@code fluorecon.imaging.smlm}: 0-based frames,
 * positions in nm from the image corner, NaN for what a method does not estimate.
 */
public final class Localizations {
    /** ThunderSTORM's column names, in CSV order after "id" and "frame". */
    public static final String[] COLUMNS = {
        "x [nm]", "y [nm]", "z [nm]", "intensity [photon]", "offset [photon]", "bkgstd [photon]", "sigma [nm]",
        "uncertainty [nm]",
    };
    public static final int X = 0;
    public static final int Y = 1;
    public static final int Z = 2;
    public static final int INTENSITY = 3;
    public static final int OFFSET = 4;
    public static final int BKGSTD = 5;
    public static final int SIGMA = 6;
    public static final int UNCERTAINTY = 7;

    private int size;
    private int[] frames = new int[256];
    private double[][] values = new double[COLUMNS.length][256];

    /** Adds a row; {@code row} has one value per {@link #COLUMNS} entry (NaN when unknown). */
    public void add(int frame, double... row) {
        if (row.length != COLUMNS.length) {
            throw new IllegalArgumentException(row.length + " values for " + COLUMNS.length + " columns");
        }
        if (size == frames.length) {
            frames = Arrays.copyOf(frames, size * 2);
            for (int c = 0; c < values.length; c++) {
                values[c] = Arrays.copyOf(values[c], size * 2);
            }
        }
        frames[size] = frame;
        for (int c = 0; c < row.length; c++) {
            values[c][size] = row[c];
        }
        size++;
    }

    public int size() {
        return size;
    }

    /** 0-based frame of row {@code i}. */
    public int frame(int i) {
        return frames[i];
    }

    public double get(int column, int i) {
        return values[column][i];
    }

    /** The column's values (a copy). */
    public double[] column(int column) {
        return Arrays.copyOf(values[column], size);
    }

    /** An ImageJ ResultsTable with ThunderSTORM's columns (1-based id and frame). */
    public ResultsTable toResultsTable() {
        ResultsTable rt = new ResultsTable(size);
        rt.setPrecision(-7);
        rt.showRowNumbers(false);
        for (int i = 0; i < size; i++) {
            rt.setValue("id", i, i + 1);
            rt.setValue("frame", i, frames[i] + 1);
            for (int c = 0; c < COLUMNS.length; c++) {
                rt.setValue(COLUMNS[c], i, values[c][i]);
            }
        }
        return rt;
    }
}
