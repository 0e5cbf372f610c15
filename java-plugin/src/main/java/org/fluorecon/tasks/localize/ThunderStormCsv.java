package org.fluorecon.tasks.localize;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.file.Path;
import org.fluorecon.core.AtomicFiles;

/**
 * ThunderSTORM CSV exactly as {@code fluorecon.tasks.localize.thunderstorm_csv} writes it: the
 * header below, 1-based id and frame, numbers as Python's {@code %.7g}, {@code NaN} when unknown.
 */
public final class ThunderStormCsv {
    public static final String HEADER = "\"id\",\"frame\",\"x [nm]\",\"y [nm]\",\"z [nm]\",\"intensity [photon]\","
            + "\"offset [photon]\",\"bkgstd [photon]\",\"sigma [nm]\",\"uncertainty [nm]\"";

    private ThunderStormCsv() {
    }

    public static String text(Localizations table) {
        StringBuilder sb = new StringBuilder(64 + table.size() * 80);
        sb.append(HEADER).append('\n');
        for (int i = 0; i < table.size(); i++) {
            sb.append(i + 1).append(',').append(table.frame(i) + 1);
            for (int c = 0; c < Localizations.COLUMNS.length; c++) {
                sb.append(',').append(format7g(table.get(c, i)));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** Writes the CSV to a temporary file in the same folder, then renames it. */
    public static void write(Path path, Localizations table) throws IOException {
        AtomicFiles.writeText(path, text(table));
    }

    /**
     * Python's {@code f"{v:.7g}"}: 7 significant digits, trailing zeros removed, scientific
     * ({@code 1.234568e+07}) when the exponent is below -4 or at least 7; {@code NaN} for non-finite values.
     */
    public static String format7g(double v) {
        if (!Double.isFinite(v)) {
            return "NaN";
        }
        if (v == 0) {
            return (1 / v < 0) ? "-0" : "0";
        }
        BigDecimal d = new BigDecimal(v).round(new MathContext(7, RoundingMode.HALF_EVEN));
        int exp = d.precision() - d.scale() - 1;
        if (exp < -4 || exp >= 7) {
            BigDecimal mant = d.movePointLeft(exp);
            String m = strip(mant.toPlainString());
            int a = Math.abs(exp);
            return m + "e" + (exp < 0 ? "-" : "+") + (a < 10 ? "0" : "") + a;
        }
        return strip(d.toPlainString());
    }

    private static String strip(String s) {
        if (s.indexOf('.') < 0) {
            return s;
        }
        int end = s.length();
        while (s.charAt(end - 1) == '0') {
            end--;
        }
        if (s.charAt(end - 1) == '.') {
            end--;
        }
        return s.substring(0, end);
    }
}
