package org.fluorecon.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.tasks.deconvolve.DeconvolveServerJob;
import org.fluorecon.tasks.lightfield.LightFieldServerJob;
import org.fluorecon.tasks.sim.SimServerJob;
import org.junit.jupiter.api.Test;

/** The jobs' defaults and bounds come from the spec resources the Python side writes. */
class JobSpecTest {
    @Test
    void defaultsFollowTheSpecsIncludingNestedModelsAndExamples() {
        DeconvolveServerJob.Settings d = new DeconvolveServerJob.Settings();
        assertEquals("rl-accel", d.method);
        assertEquals(20, d.iterations);
        assertEquals(0.002, d.tvLambda);
        assertEquals(1.4, d.na); // a required field: its first example
        assertEquals(1.515, d.ni); // psf is a nested model ($ref in anyOf)
        LightFieldServerJob.Settings l = new LightFieldServerJob.Settings();
        assertEquals(11, l.nnum);
        assertEquals(-16, l.zMinUm);
        assertEquals(8, l.numIter);
        SimServerJob.Settings s = new SimServerJob.Settings();
        assertEquals("angle-phase-z", s.order);
        assertEquals(210, s.lineSpacingNm);
        assertTrue(s.estimate);
    }

    @Test
    void boundsAndTheRangeMessage() {
        JobSpec spec = JobSpec.of("train-denoise");
        assertEquals(1, spec.min("steps"));
        assertEquals(100_000, spec.max("steps"));
        assertEquals(0.0, JobSpec.of("deconvolve").min("tv_lambda"));
        assertEquals(1.0, JobSpec.of("deconvolve").max("tv_lambda")); // exclusiveMaximum
        spec.checkRange("steps", "steps", 1000, "");
        FluoreconException e = assertThrows(FluoreconException.class,
                () -> spec.checkRange("steps", "steps", 0, " (1000 is a good start)"));
        assertEquals("steps = 0 is out of range; use 1 to 100000 (1000 is a good start).", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> spec.field("no_such_field"));
        assertEquals(java.util.List.of("rl", "rl-accel", "rltv", "wiener"), DeconvolveServerJob.METHODS);
        assertEquals(java.util.List.of("2", "3"), spec.choices("ndim"));
    }

    @Test
    void objectKeepsOrderAndNulls() {
        Map<String, Object> m = Json.object("task", "x", "nnum", null, "a", 1);
        assertEquals("{\"task\":\"x\",\"nnum\":null,\"a\":1}", Json.write(m));
    }
}
