package org.fluorecon.tasks.localize;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ThunderStormCsvTest {
    @TempDir
    Path tmp;

    @Test
    void numbersAsPythons7g() {
        // expected strings from Python's f"{v:.7g}"
        double[] v = {1234.5678, 0.0001234567, 1e-5, 12345678.0, 100.0, -2.5, 0.5, 1e16, 123456.75, 9999999.5,
            0.00099999996, 258.61871337890625, -0.0, 3.0000001e-7, Double.NaN};
        String[] want = {"1234.568", "0.0001234567", "1e-05", "1.234568e+07", "100", "-2.5", "0.5", "1e+16",
            "123456.8", "1e+07", "0.001", "258.6187", "-0", "3e-07", "NaN"};
        for (int i = 0; i < v.length; i++) {
            assertEquals(want[i], ThunderStormCsv.format7g(v[i]), "value " + v[i]);
        }
    }

    @Test
    void fileHasHeaderOneBasedIdsAndFramesAndIsWrittenAtomically() throws IOException {
        Localizations t = new Localizations();
        t.add(0, 150.25, 20, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        t.add(3, 1, 2, 3, 4, 5, 6, 7, 8);
        Path f = tmp.resolve("locs.csv");
        ThunderStormCsv.write(f, t);
        assertEquals(ThunderStormCsv.HEADER + "\n1,1,150.25,20,0,NaN,NaN,NaN,NaN,NaN\n2,4,1,2,3,4,5,6,7,8\n",
                Files.readString(f));
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count()); // no temporary file left
        }
        assertEquals(4.0, t.toResultsTable().getValue("frame", 1), 0);
        assertTrue(t.toResultsTable().columnExists("uncertainty [nm]"));
    }
}
