package org.fluorecon.tasks.denoise;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.process.FloatProcessor;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.testutil.ScriptedServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Train on this image…: the spec sent, what is refused before upload, the model path read back. */
class TrainDenoiseServerJobTest {
    @TempDir
    Path tmp;

    private TrainDenoiseServerJob job(TrainDenoiseServerJob.Settings s) {
        return new TrainDenoiseServerJob(new ImagePlus("noisy", new FloatProcessor(64, 64)), s, tmp,
                ScriptedServer.unreachable());
    }

    @Test
    void spec_carries_the_choices() {
        TrainDenoiseServerJob.Settings s = new TrainDenoiseServerJob.Settings();
        s.method = "n2s";
        s.steps = 50;
        s.name = " mine ";
        Map<String, Object> spec = job(s).spec();
        assertEquals("train-denoise", spec.get("task"));
        assertEquals("n2s", spec.get("method"));
        assertEquals(50, spec.get("steps"));
        assertEquals(2, spec.get("ndim"));
        assertEquals("mine", spec.get("name"));
        assertEquals("none", spec.get("struct_n2v_axis")); // the spec's default: plain N2V
    }

    @Test
    void struct_n2v_axis_is_sent_and_an_unknown_one_refused() {
        TrainDenoiseServerJob.Settings s = new TrainDenoiseServerJob.Settings();
        s.structN2vAxis = "horizontal";
        assertEquals("horizontal", job(s).spec().get("struct_n2v_axis"));
        s.structN2vAxis = "x";
        TrainDenoiseServerJob bad = job(s);
        assertFalse(bad.checkInput());
        assertTrue(bad.getErrorMessage().startsWith("struct_n2v_axis = 'x' is not known; use one of [none, "),
                bad.getErrorMessage());
    }

    @Test
    void a_3d_model_on_a_plane_and_bad_steps_are_refused_in_words() {
        TrainDenoiseServerJob.Settings s = new TrainDenoiseServerJob.Settings();
        s.ndim = 3;
        TrainDenoiseServerJob plane = job(s);
        assertFalse(plane.checkInput());
        assertTrue(plane.getErrorMessage().startsWith("ndim = 3 needs a z-stack but 'noisy' has one slice"),
                plane.getErrorMessage());
        TrainDenoiseServerJob.Settings t = new TrainDenoiseServerJob.Settings();
        t.steps = 0;
        TrainDenoiseServerJob steps = job(t);
        assertFalse(steps.checkInput());
        assertTrue(steps.getErrorMessage().contains("steps = 0 is out of range"), steps.getErrorMessage());
    }

    @Test
    void model_path_is_read_from_the_job_message() {
        assertEquals(Path.of("/srv/models/my_n2v.onnx"), TrainServerJob.modelPath("Done. model_file = /srv/models/my_n2v.onnx"));
        FluoreconException e = assertThrows(FluoreconException.class, () -> TrainServerJob.modelPath("Done."));
        assertTrue(e.getMessage().contains("names no trained model"));
    }
}
