package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.fluorecon.onnx.Predictor;
import org.fluorecon.testutil.IdentityModelsTest;
import org.fluorecon.testutil.OnnxModels;
import org.fluorecon.testutil.Progresses;
import org.junit.jupiter.api.Test;

class ImageToImageJobTest extends IdentityModelsTest {
    private static ImageToImageJob job(ImagePlus imp, Path model) {
        return new ImageToImageJob(imp, model, 0, 1, false, Predictor::open);
    }

    private static String error(ImagePlus imp, Path model) {
        ImageToImageJob j = job(imp, model);
        assertFalse(j.checkInput(), "checkInput should refuse");
        assertFalse(j.process(Progress.NONE), "process should refuse");
        assertNull(j.getResult());
        return j.getErrorMessage();
    }

    @Test
    void refusesRgb() {
        assertEquals(ImageToImageJob.RGB_MESSAGE, error(IJ.createImage("c", "RGB", 16, 16, 1), model2d));
        assertEquals("Image is RGB; convert it with Image › Type › 32-bit first.", ImageToImageJob.RGB_MESSAGE);
    }

    @Test
    void refusesNoImage() {
        assertTrue(error(null, model2d).startsWith("No image is open"));
    }

    @Test
    void refusesNanAndInfinitePixels() {
        ImagePlus imp = IJ.createImage("n", "32-bit ramp", 16, 16, 2);
        ((float[]) imp.getStack().getPixels(2))[3 * 16 + 5] = Float.POSITIVE_INFINITY;
        String msg = error(imp, model2d);
        assertTrue(msg.contains("NaN or infinite") && msg.contains("x=5, y=3, slice 2"), msg);
    }

    @Test
    void refusesImagesSmallerThanTheTileMultiple() {
        String msg = error(IJ.createImage("tiny", "8-bit ramp", 3, 16, 1), model2d);
        assertTrue(msg.contains("smaller than the model's tile multiple 4"), msg);
        assertTrue(msg.contains("width (X)"), msg);
    }

    @Test
    void refusesMissingAndCorruptModels() throws Exception {
        ImagePlus imp = IJ.createImage("i", "8-bit ramp", 16, 16, 1);
        assertTrue(error(imp, tmp.resolve("missing.onnx")).startsWith("Model file not found"));
        Path bad = Files.write(tmp.resolve("corrupt.onnx"), new byte[] {1, 2, 3, 4, 5});
        assertTrue(error(imp, bad).contains("not a readable ONNX model"));
    }

    @Test
    void refusesModelsForOtherTasks() throws Exception {
        Map<String, String> card = OnnxModels.card(2, 4, 8, 32);
        card.put("task", "upsample");
        Path m = OnnxModels.write(tmp.resolve("up.onnx"), card, 2, 1);
        String msg = error(IJ.createImage("i", "8-bit ramp", 16, 16, 1), m);
        assertTrue(msg.contains("upsample model") && msg.contains("task=denoise"), msg);
    }

    @Test
    void superResolvePointsIsotropicModelsToIsotropicRestoration() throws Exception {
        Map<String, String> card = OnnxModels.card(2, 4, 8, 32);
        card.put("task", "isotropic");
        Path m = OnnxModels.write(tmp.resolve("iso.onnx"), card, 2, 1);
        ImagePlus imp = IJ.createImage("i", "8-bit ramp", 16, 16, 1);
        ImageToImageJob j = job(imp, m).forTask("upsample", "Super-resolve", "-superres");
        assertFalse(j.checkInput());
        assertEquals("Model 'iso.onnx' is an isotropic-restoration model (task=isotropic): use Plugins › fluorecon › "
                + "Isotropic restoration… on the z-stack; Super-resolve needs a model with task=upsample.",
                j.getErrorMessage());
        assertEquals("Model 'iso.onnx' is a isotropic model (task=isotropic); Denoise needs a model with task=denoise.",
                error(imp, m));
    }

    @Test
    void refuses3dModelOnASinglePlane() {
        String msg = error(IJ.createImage("plane", "16-bit ramp", 16, 16, 1), model3d);
        assertTrue(msg.contains("3D model") && msg.contains("single z-slice"), msg);
    }

    @Test
    void refusesNegativeSettings() {
        ImagePlus imp = IJ.createImage("i", "8-bit ramp", 16, 16, 1);
        ImageToImageJob j = new ImageToImageJob(imp, model2d, -1, 1, false, Predictor::open);
        assertFalse(j.checkInput());
        assertTrue(j.getErrorMessage().startsWith("tile = -1"));
        j = new ImageToImageJob(imp, model2d, 0, -2, false, Predictor::open);
        assertFalse(j.checkInput());
        assertTrue(j.getErrorMessage().startsWith("threads = -2"));
    }

    @Test
    void identityModelGivesBackTheImageWithProvenance() {
        ImagePlus imp = IJ.createImage("cells.tif", "16-bit ramp", 40, 30, 3);
        ImageToImageJob j = new ImageToImageJob(imp, model2d, 20, 1, false, Predictor::open);
        assertTrue(j.checkInput(), j.getErrorMessage());
        assertTrue(j.process(Progress.NONE), j.getErrorMessage());
        ImagePlus out = j.getResult();
        assertEquals("cells-denoised", out.getTitle());
        assertEquals(32, out.getBitDepth());
        assertArrayEquals(new int[] {40, 30, 1, 3, 1}, out.getDimensions());
        for (int s = 1; s <= 3; s++) {
            short[] a = (short[]) imp.getStack().getPixels(s);
            float[] b = (float[]) out.getStack().getPixels(s);
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i] & 0xffff, b[i], 0.05);
            }
        }
        String info = (String) out.getProperty("Info");
        assertTrue(info.contains("model.sha256 = " + Predictor.sha256(model2d)), info);
        assertTrue(info.contains("execution.provider = CPUExecutionProvider"), info);
        assertTrue(info.contains("settings.tile = 20,20"), info); // the smallest tile a user may ask for: 2*halo + multiple
        assertTrue(info.contains("fluorecon.version = "), info);
    }

    @Test
    void meanAndScaleOutputsDoubleTheChannels() throws Exception {
        Map<String, String> card = OnnxModels.card(2, 4, 8, 32);
        card.put("channels.out", "2");
        card.put("outputs", "mean,scale");
        Path m = OnnxModels.write(tmp.resolve("ms.onnx"), card, 2, 2);
        ImagePlus imp = IJ.createImage("two", "32-bit ramp", 20, 12, 2, 1, 1);
        ImageToImageJob j = job(imp, m);
        assertTrue(j.process(Progress.NONE), j.getErrorMessage());
        ImagePlus out = j.getResult();
        assertArrayEquals(new int[] {20, 12, 4, 1, 1}, out.getDimensions());
        assertEquals("mean", out.getStack().getSliceLabel(1));
        assertEquals("scale", out.getStack().getSliceLabel(2));
    }

    @Test
    void cancellingLeavesNoResult() throws Exception {
        ImagePlus imp = IJ.createImage("c", "8-bit ramp", 64, 64, 1);
        ImageToImageJob j = new ImageToImageJob(imp, model2d, 20, 1, false, Predictor::open);
        Progress cancel = Progresses.CANCELLED;
        assertFalse(j.process(cancel));
        assertTrue(j.isCancelled());
        assertNull(j.getResult());
        assertEquals("Denoise was cancelled; no output was made.", j.getErrorMessage());
        Map<String, String> card = OnnxModels.card(2, 4, 8, 32);
        card.put("task", "deconvolve");
        Path m = OnnxModels.write(tmp.resolve("deconv.onnx"), card, 2, 1);
        ImageToImageJob d = new ImageToImageJob(imp, m, 20, 1, false, Predictor::open)
                .forTask("deconvolve", "Deconvolve", "-deconvolved");
        assertFalse(d.process(cancel));
        assertEquals("Deconvolve was cancelled; no output was made.", d.getErrorMessage());
    }
}
