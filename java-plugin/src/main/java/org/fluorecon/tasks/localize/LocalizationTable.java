package org.fluorecon.tasks.localize;

import ij.ImagePlus;
import ij.ImageStack;
import ij.measure.ResultsTable;
import ij.process.FloatProcessor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.fluorecon.core.AtomicFiles;
import org.fluorecon.core.FluoreconException;

/**
 * A localisation table with whatever columns its file has (ThunderSTORM: {@code id, frame, x [nm],
 * y [nm], …}), read and written as {@code fluorecon.tasks.register_table.read_table_csv /
 * write_table_csv} do, and packed for the server as a float32 image whose two channels are
 * {@code hi = (float) v} and {@code lo = (float) (v − hi)}, so {@code hi + lo} restores the double.
 */
public final class LocalizationTable {
    private final List<String> columns;
    /** Row-major values, {@code rows × columns}. */
    private final double[][] values;

    public LocalizationTable(List<String> columns, double[][] values) {
        this.columns = List.copyOf(columns);
        for (double[] row : values) {
            if (row.length != columns.size()) {
                throw new FluoreconException("A table row has " + row.length + " values for " + columns.size()
                        + " columns.");
            }
        }
        this.values = values;
    }

    public List<String> columns() {
        return columns;
    }

    public int size() {
        return values.length;
    }

    public double get(int row, int column) {
        return values[row][column];
    }

    /** Index of {@code name}, or −1. */
    public int column(String name) {
        return columns.indexOf(name);
    }

    /** Reads a CSV: a header of (optionally quoted) column names, then one row of numbers per localisation. */
    public static LocalizationTable read(Path path) throws IOException {
        List<String> lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        int first = 0;
        while (first < lines.size() && lines.get(first).isBlank()) {
            first++;
        }
        if (first == lines.size()) {
            throw new FluoreconException(path + " is empty; give a localisation table with a header row.");
        }
        List<String> columns = new ArrayList<>();
        for (String name : split(lines.get(first).replace("\uFEFF", ""))) {
            columns.add(unquote(name));
        }
        List<double[]> rows = new ArrayList<>();
        for (int i = first + 1; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            String[] cells = split(line);
            if (cells.length != columns.size()) {
                throw new FluoreconException(path.getFileName() + ": row " + (i + 1) + " has " + cells.length
                        + " values but the header names " + columns.size() + " columns.");
            }
            double[] row = new double[cells.length];
            for (int j = 0; j < cells.length; j++) {
                String cell = unquote(cells[j]);
                try {
                    row[j] = cell.isEmpty() ? Double.NaN : Double.parseDouble(cell);
                } catch (NumberFormatException e) {
                    throw new FluoreconException(path.getFileName() + ": row " + (i + 1) + ", column '"
                            + columns.get(j) + "' holds '" + cell + "', not a number.");
                }
            }
            rows.add(row);
        }
        return new LocalizationTable(columns, rows.toArray(new double[0][]));
    }

    private static String[] split(String line) {
        return line.split(",", -1);
    }

    private static String unquote(String s) {
        String t = s.trim();
        if (t.length() >= 2 && t.startsWith("\"") && t.endsWith("\"")) {
            t = t.substring(1, t.length() - 1);
        }
        return t.trim();
    }

    /** An ImageJ results table (e.g. ThunderSTORM's, imported with File › Import › Results…). */
    public static LocalizationTable of(ResultsTable rt) {
        String[] headings = rt.getHeadings();
        List<String> columns = new ArrayList<>();
        for (String h : headings) {
            if (!h.isEmpty() && !" ".equals(h) && !"Label".equals(h) && rt.columnExists(h)) {
                columns.add(h);
            }
        }
        double[][] values = new double[rt.size()][columns.size()];
        for (int j = 0; j < columns.size(); j++) {
            double[] column = rt.getColumnAsDoubles(rt.getColumnIndex(columns.get(j)));
            for (int i = 0; i < values.length; i++) {
                values[i][j] = column[i];
            }
        }
        return new LocalizationTable(columns, values);
    }

    /** This table as a results table, the same columns. */
    public ResultsTable toResultsTable() {
        ResultsTable rt = new ResultsTable(values.length);
        for (int j = 0; j < columns.size(); j++) {
            double[] column = new double[values.length];
            for (int i = 0; i < values.length; i++) {
                column[i] = values[i][j];
            }
            rt.setValues(columns.get(j), column);
        }
        rt.setPrecision(-7);
        return rt;
    }

    /** One CSV cell: whole numbers as integers, others as Python's {@code %.7g}, {@code NaN} when unknown. */
    public static String format(double v) {
        if (!Double.isFinite(v)) {
            return "NaN";
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return ThunderStormCsv.format7g(v);
    }

    /** The CSV text: quoted column names, then the rows. */
    public String text() {
        StringBuilder sb = new StringBuilder(64 + values.length * 16 * Math.max(columns.size(), 1));
        for (int j = 0; j < columns.size(); j++) {
            sb.append(j == 0 ? "" : ",").append('"').append(columns.get(j)).append('"');
        }
        sb.append('\n');
        for (double[] row : values) {
            for (int j = 0; j < row.length; j++) {
                sb.append(j == 0 ? "" : ",").append(format(row[j]));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** Writes the CSV to a temporary file in the same folder, then renames it. */
    public void write(Path path) throws IOException {
        AtomicFiles.writeText(path, text());
    }

    /** The table as a float32 image: width = columns, height = rows, 2 channels (hi, lo). */
    public ImagePlus pack(String title) {
        int w = columns.size();
        int h = values.length;
        float[] hi = new float[w * h];
        float[] lo = new float[w * h];
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                double v = values[i][j];
                float a = (float) v;
                hi[i * w + j] = a;
                lo[i * w + j] = (float) (v - a);
            }
        }
        ImageStack stack = new ImageStack(w, h);
        stack.addSlice("hi", new FloatProcessor(w, h, hi));
        stack.addSlice("lo", new FloatProcessor(w, h, lo));
        ImagePlus imp = new ImagePlus(title, stack);
        imp.setDimensions(2, 1, 1);
        imp.setOpenAsHyperStack(true);
        return imp;
    }

    /** The inverse of {@link #pack}: a 2-channel float image with one column per name. */
    public static LocalizationTable unpack(ImagePlus imp, List<String> columns) {
        int w = imp.getWidth();
        int h = imp.getHeight();
        if (imp.getStackSize() != 2 || imp.getBitDepth() != 32 || w != columns.size()) {
            throw new FluoreconException("The packed table is " + w + "x" + h + "x" + imp.getStackSize() + " ("
                    + imp.getBitDepth() + "-bit), not 2 float channels of " + columns.size() + " columns.");
        }
        float[] hi = (float[]) imp.getStack().getPixels(1);
        float[] lo = (float[]) imp.getStack().getPixels(2);
        double[][] values = new double[h][w];
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                values[i][j] = (double) hi[i * w + j] + (double) lo[i * w + j];
            }
        }
        return new LocalizationTable(columns, values);
    }

    @Override
    public String toString() {
        return "LocalizationTable" + Arrays.toString(columns.toArray()) + " × " + values.length;
    }
}
