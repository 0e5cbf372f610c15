package org.fluorecon.tasks.qc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.FloatProcessor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.ServerClient;
import org.fluorecon.testutil.ScriptedServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Check result (QC)…: what is refused before upload, and how the server's figures are read. */
class QualityCheckServerJobTest {
    @TempDir
    Path tmp;

    private static ServerClient client() {
        return ScriptedServer.unreachable();
    }

    private static ImagePlus plane(String title, int w, int h) {
        return new ImagePlus(title, new FloatProcessor(w, h));
    }

    @Test
    void spec_names_the_task_and_the_absolute_model_path() throws Exception {
        Path model = Files.writeString(tmp.resolve("m.onnx"), "x");
        Map<String, Object> spec = new QualityCheckServerJob(plane("raw", 32, 32), plane("res", 32, 32), model, client()).spec();
        assertEquals("qc", spec.get("task"));
        assertEquals(model.toAbsolutePath().toString(), spec.get("model_file"));
        assertFalse(new QualityCheckServerJob(plane("raw", 32, 32), plane("res", 32, 32), null, client()).spec()
                .containsKey("model_file"));
    }

    /** The result's channels are the ones the server names in its Info; an older server's count falls back to its order. */
    @Test
    void channel_names_come_from_the_server_info() {
        assertEquals(List.of("consistency", "consistency_local", "disagreement", "invented"), List.of(
                QualityCheckServerJob.serverChannels("fluorecon qc\nchannels = consistency,consistency_local,"
                        + "disagreement,invented\nqc = {}", 2)));
        assertEquals(List.of("consistency", "consistency_local", "disagreement"),
                List.of(QualityCheckServerJob.serverChannels(null, 3)));
        assertEquals(List.of("consistency", "consistency_local"), List.of(QualityCheckServerJob.serverChannels("", 2)));
    }

    /** A ×2 result travels beside its input repeated ×2 (nearest neighbour) with scale = [2, 2] in the spec. */
    @Test
    void super_resolved_result_sends_the_input_repeated_and_its_scale() throws Exception {
        Path model = Files.writeString(tmp.resolve("up.onnx"), "x");
        FloatProcessor raw = new FloatProcessor(3, 2, new float[] {1, 2, 3, 4, 5, 6});
        QualityCheckServerJob job = new QualityCheckServerJob(new ImagePlus("raw", raw), plane("raw-superres", 6, 4), model,
                client());
        Map<String, Object> spec = job.spec();
        assertEquals(List.of(2, 2), spec.get("scale"));
        ImagePlus pair = job.upload();
        assertEquals(2, pair.getNChannels());
        assertEquals(6, pair.getWidth());
        float[] in = (float[]) pair.getStack().getPixels(1);
        assertEquals(1f, in[0]);
        assertEquals(1f, in[7]);
        assertEquals(3f, in[5]);
        assertEquals(6f, in[23]);
        QualityCheckServerJob noModel = new QualityCheckServerJob(new ImagePlus("raw", raw), plane("big", 6, 4), null, client());
        assertFalse(noModel.checkInput());
        assertTrue(noModel.getErrorMessage().contains("model_file = the super-resolution or isotropic model"),
                noModel.getErrorMessage());
        QualityCheckServerJob odd = new QualityCheckServerJob(new ImagePlus("raw", raw), plane("odd", 7, 4), model, client());
        assertFalse(odd.checkInput());
        assertTrue(odd.getErrorMessage().endsWith("give the input the result was made from."), odd.getErrorMessage());
    }

    @Test
    void different_sizes_multichannel_and_missing_model_are_refused_in_words() {
        QualityCheckServerJob sizes = new QualityCheckServerJob(plane("raw", 32, 32), plane("big", 64, 64), null, client());
        assertFalse(sizes.checkInput());
        assertTrue(sizes.getErrorMessage().startsWith("Result 'big' is 64x64x1 but input 'raw' is 32x32x1"),
                sizes.getErrorMessage());

        ImageStack stack = new ImageStack(32, 32);
        stack.addSlice(new FloatProcessor(32, 32));
        stack.addSlice(new FloatProcessor(32, 32));
        ImagePlus twoChannels = new ImagePlus("two", stack);
        twoChannels.setDimensions(2, 1, 1);
        QualityCheckServerJob channels = new QualityCheckServerJob(twoChannels, plane("res", 32, 32), null, client());
        assertFalse(channels.checkInput());
        assertTrue(channels.getErrorMessage().contains("has 2 channel(s) and 1 frame(s)"), channels.getErrorMessage());

        QualityCheckServerJob model = new QualityCheckServerJob(plane("raw", 32, 32), plane("res", 32, 32),
                tmp.resolve("missing.onnx"), client());
        assertFalse(model.checkInput());
        assertTrue(model.getErrorMessage().contains("is not an .onnx file"), model.getErrorMessage());
    }

    @Test
    void summary_is_read_from_the_job_message() {
        Map<String, Object> s = QualityCheckServerJob.parseSummary(
                "Done. qc = {\"residual_std\": 1.5, \"lag1_autocorrelation\": [0.1, -0.2], \"warnings\": [\"w1\"]}");
        assertEquals(1.5, ((Number) s.get("residual_std")).doubleValue());
        assertEquals(List.of("w1"), s.get("warnings"));
        FluoreconException e = assertThrows(FluoreconException.class, () -> QualityCheckServerJob.parseSummary("Done."));
        assertTrue(e.getMessage().contains("no qc figures"));
    }
}
