package org.fluorecon.tasks.sim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.FloatProcessor;
import java.util.HashSet;
import java.util.Set;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.testutil.ScriptedServer;
import org.junit.jupiter.api.Test;

/** Frame order and stack-size validation of SIM reconstruction… (the same numbers as tests/tasks/test_sim_learned.py). */
class SimStackTest {

    @Test
    void frameIndexFollowsTheOrderOutermostFirst() {
        // angle-phase-z: ((a·P) + p)·Z + z
        assertEquals(11, SimStack.frameIndex("angle-phase-z", 1, 2, 1, 3, 3, 2));
        // z-angle-phase (fairSIM/OMX): ((z·A) + a)·P + p
        assertEquals(14, SimStack.frameIndex("z-angle-phase", 1, 2, 1, 3, 3, 2));
        // 2D: the z part may be left out
        assertEquals(5, SimStack.frameIndex("angle-phase", 1, 2, 0, 3, 3, 1));
        // every order is a bijection onto 0..N-1
        for (String order : SimStack.ORDERS) {
            Set<Integer> seen = new HashSet<>();
            for (int a = 0; a < 3; a++) {
                for (int p = 0; p < 5; p++) {
                    for (int z = 0; z < 4; z++) {
                        seen.add(SimStack.frameIndex(order, a, p, z, 3, 5, 4));
                    }
                }
            }
            assertEquals(60, seen.size(), order);
            assertTrue(seen.contains(0) && seen.contains(59), order);
        }
    }

    @Test
    void stackSizeIsValidatedWithAClearMessage() {
        assertEquals(2, SimStack.planes(18, 3, 3, "angle-phase-z"));
        assertEquals(1, SimStack.planes(15, 3, 5, "z-angle-phase"));
        FluoreconException e = assertThrows(FluoreconException.class, () -> SimStack.planes(10, 3, 3, "angle-phase-z"));
        assertTrue(e.getMessage().contains("10 images"), e.getMessage());
        assertTrue(e.getMessage().contains("multiple of 9"), e.getMessage());
        e = assertThrows(FluoreconException.class, () -> SimStack.planes(9, 3, 3, "angle-z"));
        assertTrue(e.getMessage().contains("order = 'angle-z'"), e.getMessage());
        e = assertThrows(FluoreconException.class, () -> SimStack.planes(9, 3, 2, "angle-phase-z"));
        assertTrue(e.getMessage().startsWith("phases = 2"), e.getMessage());
    }

    @Test
    void learnedModelsTakeTheirFramesFromFullOrReducedStacks() {
        int[] onePhasePerAngle = {0, 3, 6};
        // full sets (preferred whenever the size fits), two z planes
        assertArrayEquals(new int[] {9, 12, 15}, SimStack.selectFrames(18, onePhasePerAngle, 3, 3, "z-angle-phase")[1]);
        assertArrayEquals(new int[] {1, 7, 13}, SimStack.selectFrames(18, onePhasePerAngle, 3, 3, "angle-phase-z")[1]);
        // a 9-image stack is one full set, not three reduced planes
        int[][] nine = SimStack.selectFrames(9, onePhasePerAngle, 3, 3, "angle-phase-z");
        assertEquals(1, nine.length);
        assertArrayEquals(onePhasePerAngle, nine[0]);
        // reduced acquisition: only the model's 3 frames per plane
        assertArrayEquals(new int[] {1, 3, 5}, SimStack.selectFrames(6, onePhasePerAngle, 3, 3, "angle-phase-z")[1]);
        assertArrayEquals(new int[] {3, 4, 5}, SimStack.selectFrames(6, onePhasePerAngle, 3, 3, "z-angle-phase")[1]);
        FluoreconException e = assertThrows(FluoreconException.class,
                () -> SimStack.selectFrames(7, onePhasePerAngle, 3, 3, "angle-phase-z"));
        assertTrue(e.getMessage().contains("7 images") && e.getMessage().contains("model's 3 frames"), e.getMessage());
        assertThrows(FluoreconException.class, () -> SimStack.selectFrames(9, new int[] {0, 9}, 3, 3, "angle-phase-z"));
    }

    @Test
    void serverJobRefusesAWrongStackBeforeUploading() {
        ImageStack stack = new ImageStack(32, 32);
        for (int i = 0; i < 10; i++) {
            stack.addSlice(new FloatProcessor(32, 32));
        }
        ImagePlus raw = new ImagePlus("raw", stack);
        raw.getCalibration().setUnit("micron");
        raw.getCalibration().pixelWidth = 0.08;
        raw.getCalibration().pixelHeight = 0.08;
        // no server runs at this address: the check must fail before any request
        SimServerJob job = new SimServerJob(raw, new SimServerJob.Settings(),
                ScriptedServer.unreachable());
        assertFalse(job.checkInput());
        assertTrue(job.getErrorMessage().contains("10 images"), job.getErrorMessage());

        stack.addSlice(new FloatProcessor(32, 32)); // 11
        for (int i = 0; i < 7; i++) {
            stack.addSlice(new FloatProcessor(32, 32)); // 18 = 2 planes × 9
        }
        SimServerJob.Settings s = new SimServerJob.Settings();
        s.order = "z-angle-phase";
        job = new SimServerJob(new ImagePlus("raw", stack), s, ScriptedServer.unreachable());
        assertFalse(job.checkInput(), "an uncalibrated stack needs pixel_size");
        assertTrue(job.getErrorMessage().contains("no pixel size"), job.getErrorMessage());
        s.pixelSizeNm = 80;
        assertTrue(job.checkInput(), job.getErrorMessage());
        assertTrue(job.getSpecJson().contains("\"order\":\"z-angle-phase\""), job.getSpecJson());
        assertTrue(job.getSpecJson().contains("\"pixel_size_nm\":80.0"), job.getSpecJson());
    }
}
