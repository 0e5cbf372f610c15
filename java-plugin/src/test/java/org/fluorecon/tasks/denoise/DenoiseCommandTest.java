package org.fluorecon.tasks.denoise;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import java.nio.file.Files;
import java.nio.file.Path;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageToImageJob;
import org.fluorecon.ij.Models_;
import java.util.Map;
import java.util.List;
import org.fluorecon.testutil.IdentityModelsTest;
import org.fluorecon.testutil.OnnxModels;
import org.junit.jupiter.api.Test;

/** The Denoise... command, headless, on one image per axis order (XY, XYZ, XYCZT). */
class DenoiseCommandTest extends IdentityModelsTest {
    private static ImagePlus calibrated(ImagePlus imp) {
        imp.getCalibration().pixelWidth = 0.065;
        imp.getCalibration().pixelHeight = 0.065;
        imp.getCalibration().pixelDepth = 0.2;
        imp.getCalibration().setUnit("micron");
        return imp;
    }

    /** Runs Denoise with the identity model and checks shape, calibration, title, values and the saved file. */
    private static ImagePlus denoiseAndCheck(ImagePlus imp, Path model, String name) throws Exception {
        Path out = tmp.resolve(name + ".tif");
        Run<Denoise_> r = denoise(imp, "model=[file] model_file=[" + model + "] tile=20 threads=1 save=[" + out + "]");
        if (r.error != null) {
            throw r.error;
        }
        ImagePlus res = r.command.getResult();
        assertNotNull(res);
        assertEquals(imp.getShortTitle() + "-denoised", res.getTitle());
        assertArrayEquals(imp.getDimensions(), res.getDimensions());
        assertEquals(32, res.getBitDepth());
        assertEquals(0.065, res.getCalibration().pixelWidth, 1e-12);
        assertEquals("micron", res.getCalibration().getUnit());
        for (int s = 1; s <= imp.getStackSize(); s++) {
            float[] a = (float[]) imp.getStack().getProcessor(s).convertToFloat().getPixels();
            float[] b = (float[]) res.getStack().getPixels(s);
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-3 * Math.max(1, Math.abs(a[i])), "slice " + s + " pixel " + i);
            }
        }
        ImagePlus saved = IJ.openImage(out.toString());
        assertNotNull(saved, "save= should write a TIFF");
        assertArrayEquals(imp.getDimensions(), saved.getDimensions());
        assertEquals(0.065, saved.getCalibration().pixelWidth, 1e-6); // TIFF rational
        if (imp.getNSlices() > 1) {
            assertEquals(0.2, saved.getCalibration().pixelDepth, 1e-9); // ImageJ stores spacing for stacks only
        }
        String info = saved.getInfoProperty();
        assertTrue(info != null && info.contains("execution.provider = CPUExecutionProvider"), info);
        return res;
    }

    @Test
    void xy() throws Exception {
        denoiseAndCheck(calibrated(IJ.createImage("xy.tif", "8-bit ramp", 37, 29, 1)), model2d, "xy");
    }

    @Test
    void xyzWithA2dModelPerPlane() throws Exception {
        denoiseAndCheck(calibrated(IJ.createImage("xyz", "16-bit ramp", 24, 20, 5)), model2d, "xyz2d");
    }

    @Test
    void xyzWithA3dModel() throws Exception {
        ImagePlus res = denoiseAndCheck(calibrated(IJ.createImage("xyz", "32-bit ramp", 24, 20, 5)), model3d, "xyz3d");
        assertTrue(((String) res.getProperty("Info")).contains("per z-stack"));
    }

    @Test
    void xyczt() throws Exception {
        ImagePlus imp = calibrated(IJ.createImage("hyper", "32-bit ramp", 21, 18, 2, 3, 2));
        for (int s = 1; s <= imp.getStackSize(); s++) {
            imp.getStack().getProcessor(s).add(10 * s); // every plane different
        }
        ImagePlus res = denoiseAndCheck(imp, model2d, "xyczt");
        assertTrue(res.isHyperStack());
    }

    @Test
    void rgbFailsWithTheMessageAndNoFile() throws Exception {
        Path out = tmp.resolve("rgb.tif");
        Run<Denoise_> r = denoise(IJ.createImage("rgb", "RGB", 16, 16, 1),
                "model_file=[" + model2d + "] save=[" + out + "]");
        assertTrue(r.error instanceof FluoreconException);
        assertEquals(ImageToImageJob.RGB_MESSAGE, r.error.getMessage());
        assertNull(r.command.getResult());
        assertFalse(Files.exists(out));
    }

    @Test
    void corruptModelFailsWithNoFile() throws Exception {
        Path bad = Files.write(tmp.resolve("bad.onnx"), "garbage".getBytes());
        Path out = tmp.resolve("bad.tif");
        Run<Denoise_> r = denoise(IJ.createImage("i", "8-bit ramp", 16, 16, 1),
                "model_file=[" + bad + "] save=[" + out + "]");
        assertNotNull(r.error);
        assertTrue(r.error.getMessage().contains("not a readable ONNX model"), r.error.getMessage());
        assertFalse(Files.exists(out));
    }

    @Test
    void headlessWithoutOptionsExplainsHowToPassThem() throws Exception {
        Run<Denoise_> r = denoise(IJ.createImage("i", "8-bit ramp", 16, 16, 1), null);
        assertNotNull(r.error);
        assertTrue(r.error.getMessage().contains("macro options"), r.error.getMessage());
    }

    @Test
    void unknownInstalledModelNameIsReported() throws Exception {
        Run<Denoise_> r = denoise(IJ.createImage("i", "8-bit ramp", 16, 16, 1), "model=nonexistent");
        assertNotNull(r.error);
        assertTrue(r.error.getMessage().contains("'nonexistent' is not installed"), r.error.getMessage());
    }

    @Test
    void installedModelsAreFoundByName() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("installed"));
        Files.copy(model2d, dir.resolve("my-denoiser.onnx"));
        String old = System.getProperty("fluorecon.models");
        System.setProperty("fluorecon.models", dir.toString());
        try {
            Run<Denoise_> r = denoise(IJ.createImage("i", "8-bit ramp", 16, 16, 1), "model=my-denoiser tile=0");
            if (r.error != null) {
                throw r.error;
            }
            assertTrue(((String) r.command.getResult().getProperty("Info")).contains("my-denoiser.onnx"));
            Run<Models_> m = run(new Models_(), null, "");
            assertEquals("denoise", m.command.getTable().getStringValue("task", 0));
            assertEquals("12.5", m.command.getTable().getStringValue("metrics.val_psnr", 0));
            // A card without metrics: its metric cells in the CSV stay empty, not 0.
            Map<String, String> plain = OnnxModels.card(2, 4, 0, 32);
            plain.remove("metrics.val_psnr");
            OnnxModels.write(dir.resolve("plain.onnx"), plain, 2, 1);
            Path csv = tmp.resolve("models.csv");
            Run<Models_> saved = run(new Models_(), null, "save=" + csv);
            List<String> lines = Files.readAllLines(csv);
            String cell = ",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)"; // commas outside quotes
            List<String> head = List.of(lines.get(0).split(cell, -1));
            int col = head.indexOf("metrics.val_psnr");
            int model = head.indexOf("model");
            assertTrue(col >= 0, lines.get(0));
            for (String line : lines.subList(1, lines.size())) {
                String[] cells = line.split(cell, -1);
                assertEquals("", cells[head.indexOf("error")], line);
                assertEquals(cells[model].equals("plain") ? "" : "12.5", cells[col], line);
            }
            assertEquals(3, lines.size(), String.valueOf(lines));
            assertEquals(2, saved.command.getTable().size());
        } finally {
            if (old == null) {
                System.clearProperty("fluorecon.models");
            } else {
                System.setProperty("fluorecon.models", old);
            }
        }
    }
}
