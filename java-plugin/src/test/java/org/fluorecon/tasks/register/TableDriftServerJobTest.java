package org.fluorecon.tasks.register;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.FloatProcessor;
import java.util.List;
import java.util.Map;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.tasks.localize.LocalizationTable;
import org.fluorecon.tasks.unmix.UnmixServerJob;
import org.fluorecon.testutil.ScriptedServer;
import org.junit.jupiter.api.Test;

/** The specs of a table drift job and of unmixing with measured (ROI) spectra; checks before any upload. */
class TableDriftServerJobTest {
    private static ServerClient client() {
        return ScriptedServer.unreachable();
    }

    @Test
    void tableSpecCarriesColumnsAndOptions() {
        LocalizationTable t = new LocalizationTable(List.of("id", "frame", "x [nm]", "y [nm]"),
                new double[][] {{1, 1, 10, 20}, {2, 2, 11, 21}});
        TableDriftServerJob.Settings s = new TableDriftServerJob.Settings();
        s.segments = 4;
        TableDriftServerJob job = new TableDriftServerJob(t, "locs", s, client());
        assertTrue(job.checkInput(), job.getErrorMessage());
        Map<String, Object> spec = Json.parseObject(job.getSpecJson());
        assertEquals("register-table", spec.get("task"));
        assertEquals(List.of("id", "frame", "x [nm]", "y [nm]"), spec.get("columns"));
        assertEquals(4, ((Number) spec.get("segments")).intValue());
    }

    @Test
    void tableWithoutPositionsIsRefusedInWords() {
        LocalizationTable t = new LocalizationTable(List.of("frame", "x"), new double[][] {{1, 2}});
        TableDriftServerJob job = new TableDriftServerJob(t, "locs", new TableDriftServerJob.Settings(), client());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("no 'x [nm]', 'y [nm]' column"), job.getErrorMessage());
    }

    @Test
    void measuredSpectraTravelAsMixingWithNamesAndBackground() {
        ImageStack st = new ImageStack(4, 4);
        for (int i = 0; i < 3; i++) {
            st.addSlice(new FloatProcessor(4, 4));
        }
        ImagePlus imp = new ImagePlus("lambda", st);
        imp.setDimensions(3, 1, 1);
        UnmixServerJob.Settings s = new UnmixServerJob.Settings();
        s.mixing = new double[][] {{0.5, 0.1}, {0.5, 0.2}, {0, 0.7}};
        s.labelNames = List.of("nucleus", "membrane");
        s.background = new double[] {1, 2, 3};
        UnmixServerJob job = new UnmixServerJob(imp, s, client());
        assertTrue(job.checkInput(), job.getErrorMessage());
        Map<String, Object> spec = Json.parseObject(job.getSpecJson());
        assertEquals(List.of(List.of(0.5, 0.1), List.of(0.5, 0.2), List.of(0.0, 0.7)), spec.get("mixing"));
        assertEquals(List.of("nucleus", "membrane"), spec.get("label_names"));
        assertEquals(List.of(1.0, 2.0, 3.0), spec.get("background"));
        assertFalse(spec.containsKey("spectra"));
        s.method = "learned";
        UnmixServerJob learned = new UnmixServerJob(imp, s, client());
        assertFalse(learned.checkInput());
        assertTrue(learned.getErrorMessage().contains("unmixed by nnls"), learned.getErrorMessage());
    }
}
