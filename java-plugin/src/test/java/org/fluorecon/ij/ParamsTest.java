package org.fluorecon.ij;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.plugin.PlugIn;
import org.fluorecon.testutil.CommandTestBase;
import org.junit.jupiter.api.Test;

/** Params.settings: a job's @Option fields read from macro options headless, as the commands' dialogs read them. */
class ParamsTest extends CommandTestBase {
    /** A job's settings: defaults in the fields, macro keys in the annotations. */
    public static final class Settings {
        @Option(key = "iterations") public int numIter = 8;
        @Option(key = "z_step", digits = 1) public double zStepUm = 4;
        @Option(key = "estimate") public boolean estimate = true;
        @Option(key = "label") public String label = "none";
        public double notOffered = 1;
    }

    /** Reads {@code keys} of a fresh Settings from the macro options of its run. */
    private static final class Reader implements PlugIn {
        final Settings s = new Settings();
        final String[] keys;

        Reader(String... keys) {
            this.keys = keys;
        }

        @Override
        public void run(String arg) {
            Params params = new Params("test", "iterations=3");
            params.settings(s, keys);
            params.show();
        }
    }

    @Test
    void macro_options_reach_the_fields_and_absent_ones_keep_the_defaults() throws Exception {
        Run<Reader> r = run(new Reader("iterations", "z_step", "estimate", "label"), null,
                "iterations=12 z_step=0.25 label=[two words]");
        assertNull(r.error, () -> r.error.getMessage());
        assertEquals(12, r.command.s.numIter);
        assertEquals(0.25, r.command.s.zStepUm);
        assertEquals(false, r.command.s.estimate); // a checkbox is on only when its key is in the options
        assertEquals("two words", r.command.s.label);

        Run<Reader> defaults = run(new Reader("iterations", "z_step", "estimate"), null, "estimate");
        assertNull(defaults.error, () -> defaults.error.getMessage());
        assertEquals(8, defaults.command.s.numIter);
        assertEquals(4.0, defaults.command.s.zStepUm);
        assertTrue(defaults.command.s.estimate);
    }

    @Test
    void a_bad_number_is_refused_in_words_and_an_unknown_key_is_a_programming_error() throws Exception {
        Run<Reader> bad = run(new Reader("iterations"), null, "iterations=2.5");
        assertEquals("iterations = 2.5 is not a whole number.", bad.error.getMessage());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Params("test", "").settings(new Settings(), "not_offered"));
        assertTrue(e.getMessage().endsWith("has no public @Option(key = \"not_offered\") field"), e.getMessage());
    }
}
