package org.fluorecon.tasks.localize;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.measure.ResultsTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.fluorecon.core.FluoreconException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Localisation tables with any columns: CSV round trip, Results table, and the hi/lo packing. */
class LocalizationTableTest {
    @TempDir
    Path tmp;

    @Test
    void csvRoundTripKeepsColumnsAndWritesLikePython() throws IOException {
        Path in = tmp.resolve("in.csv");
        Files.writeString(in, "\"id\",\"frame\",\"x [nm]\",\"y [nm]\",\"chi2\"\n1,1,1234.56789,20,\n2,3,-0.0,5.5e-06,NaN\n");
        LocalizationTable t = LocalizationTable.read(in);
        assertEquals(List.of("id", "frame", "x [nm]", "y [nm]", "chi2"), t.columns());
        assertTrue(Double.isNaN(t.get(0, 4)));
        Path out = tmp.resolve("out.csv");
        t.write(out);
        // as fluorecon.tasks.register_table.write_table_csv: integers plain, others %.7g
        assertEquals("\"id\",\"frame\",\"x [nm]\",\"y [nm]\",\"chi2\"\n1,1,1234.568,20,NaN\n2,3,0,5.5e-06,NaN\n",
                Files.readString(out));
        ResultsTable rt = t.toResultsTable();
        assertEquals(3.0, rt.getValue("frame", 1), 0);
        assertEquals(t.columns(), LocalizationTable.of(rt).columns());
    }

    @Test
    void packedTableRestoresDoublesToFortyEightBits() {
        double[][] v = {{1, 45678.123456789, Double.NaN}, {2, 1e-7, -98765.4321}};
        LocalizationTable t = new LocalizationTable(List.of("frame", "x [nm]", "z"), v);
        ImagePlus packed = t.pack("t");
        assertEquals(3, packed.getWidth());
        assertEquals(2, packed.getNChannels());
        LocalizationTable back = LocalizationTable.unpack(packed, t.columns());
        assertEquals(45678.123456789, back.get(0, 1), 45678.0 * Math.pow(2, -47));
        assertEquals(-98765.4321, back.get(1, 2), 98765.0 * Math.pow(2, -47));
        assertTrue(Double.isNaN(back.get(0, 2)));
    }

    @Test
    void badCellsAreNamed() throws IOException {
        Path in = tmp.resolve("bad.csv");
        Files.writeString(in, "frame,x [nm],y [nm]\n1,abc,3\n");
        FluoreconException e = assertThrows(FluoreconException.class, () -> LocalizationTable.read(in));
        assertTrue(e.getMessage().contains("row 2, column 'x [nm]' holds 'abc'"), e.getMessage());
    }
}
