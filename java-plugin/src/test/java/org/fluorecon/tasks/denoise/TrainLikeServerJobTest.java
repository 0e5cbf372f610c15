package org.fluorecon.tasks.denoise;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.FloatProcessor;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.testutil.ScriptedServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Train for my microscope…: the current channel's stack is what is sent, plane= is passed on, a Z-and-T image refused. */
class TrainLikeServerJobTest {
    @TempDir
    Path tmp;

    /** A hyperstack whose plane (c, z, t) holds the value 100·c + 10·z + t everywhere. */
    private static ImagePlus hyperstack(int nC, int nZ, int nT) {
        ImageStack stack = new ImageStack(8, 8);
        for (int t = 0; t < nT; t++) {
            for (int z = 0; z < nZ; z++) {
                for (int c = 0; c < nC; c++) {
                    FloatProcessor fp = new FloatProcessor(8, 8);
                    fp.set(100 * c + 10 * z + t);
                    stack.addSlice(fp);
                }
            }
        }
        ImagePlus imp = new ImagePlus("beads", stack);
        imp.setDimensions(nC, nZ, nT);
        imp.setOpenAsHyperStack(true);
        return imp;
    }

    private TrainLikeServerJob job(ImagePlus imp, Integer plane) {
        TrainLikeServerJob.Settings s = new TrainLikeServerJob.Settings();
        s.na = 1.1;
        s.wavelengthNm = 520;
        s.plane = plane;
        return new TrainLikeServerJob(imp, s, tmp, ScriptedServer.unreachable());
    }

    @Test
    void the_current_channels_z_stack_is_sent_with_the_plane() {
        ImagePlus imp = hyperstack(2, 3, 1);
        imp.setPosition(2, 1, 1);
        TrainLikeServerJob job = job(imp, 2);
        Map<String, Object> spec = job.spec();
        assertEquals(2, spec.get("plane"));
        ImagePlus sent = job.upload();
        assertEquals(1, sent.getNChannels());
        assertEquals(3, sent.getNSlices());
        for (int z = 0; z < 3; z++) {
            assertEquals(100 + 10 * z, sent.getStack().getProcessor(z + 1).getf(0), 0);
        }
    }

    @Test
    void a_t_stack_is_sent_as_frames_and_no_plane_means_the_brightest() {
        ImagePlus imp = hyperstack(1, 1, 4);
        TrainLikeServerJob job = job(imp, null);
        assertFalse(job.spec().containsKey("plane"));
        ImagePlus sent = job.upload();
        assertEquals(4, sent.getNFrames());
        assertEquals(3, sent.getStack().getProcessor(4).getf(0), 0);
    }

    @Test
    void z_and_t_together_and_a_bad_plane_are_refused_in_words() {
        TrainLikeServerJob both = job(hyperstack(1, 2, 2), null);
        assertFalse(both.checkInput());
        assertEquals("Image 'beads' has 2 slices and 2 frames; fit to one Z or T stack (Image › Duplicate… one frame, "
                + "or one slice) first.", both.getErrorMessage());
        assertNull(TrainLikeServerJob.planeValue(" "));
        assertEquals(7, TrainLikeServerJob.planeValue("7"));
        for (String bad : new String[] {"-1", "x"}) {
            FluoreconException e = assertThrows(FluoreconException.class, () -> TrainLikeServerJob.planeValue(bad));
            assertEquals("plane = " + bad + " is no plane index; give the plane (0-based) of the stack to fit the "
                    + "structure and light level to, or leave it empty for the brightest.", e.getMessage());
        }
    }
}
