package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.io.Opener;
import ij.measure.Calibration;
import java.util.Map;
import org.fluorecon.testutil.JsonValues;
import org.fluorecon.testutil.Vectors;
import org.junit.jupiter.api.Test;

/** ImageJ's own reading of the shared calibration vectors (tests/vectors/calibration, written by
 *  ImageJ's FileSaver and by tifffile), converted to nm by the plugin, matches the calibration the JSON
 *  states: the same expectations tests/core/test_calibration_vectors.py checks on the Python reader. */
class CalibrationVectorsTest {

    @Test
    void imagejReadsEachVectorToItsStatedCalibration() throws Exception {
        Map<String, Object> root = JsonValues.obj(Vectors.json("calibration/calibration.json"));
        int checked = 0;
        for (Object o : JsonValues.arr(root.get("cases"))) {
            Map<String, Object> c = JsonValues.obj(o);
            if (!Boolean.TRUE.equals(c.get("imagej_opener"))) {
                continue; // OME-XML calibration is read by Bio-Formats, not ImageJ's own opener
            }
            String file = (String) c.get("file");
            ImagePlus imp = new Opener().openImage(Vectors.file("calibration/" + file).toString());
            assertNotNull(imp, file);
            Calibration cal = imp.getCalibration();
            double nm = Sampling.pixelNm(imp);
            Object expected = c.get("pixel_size_um");
            if (expected == null) {
                assertTrue(Double.isNaN(nm) || cal.pixelWidth == 1.0, file + ": uncalibrated, got " + cal.pixelWidth
                        + " " + cal.getUnit());
            } else {
                double um = ((Number) expected).doubleValue();
                assertEquals(um * 1000, nm, um * 1000 * 1e-4, file + " (" + cal.getUnit() + ")");
            }
            Object z = c.get("z_step_um");
            if (z != null) {
                double zNm = Sampling.zStepNm(imp);
                assertEquals(((Number) z).doubleValue() * 1000, zNm, 1e-3, file + " z");
            }
            checked++;
        }
        assertTrue(checked >= 10, "checked " + checked + " vectors");
        assertFalse(Double.isFinite(Sampling.toNm(1.0, "pixel")));
    }
}
