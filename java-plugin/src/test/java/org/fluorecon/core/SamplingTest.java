package org.fluorecon.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.FloatProcessor;
import org.junit.jupiter.api.Test;

class SamplingTest {
    /** A z-stack whose pixels are in µm and whose z step is in nm (ImageJ keeps a separate z unit). */
    static ImagePlus micronPixelsNmSteps() {
        ImageStack st = new ImageStack(8, 8);
        for (int i = 0; i < 8; i++) {
            st.addSlice(new FloatProcessor(8, 8));
        }
        ImagePlus imp = new ImagePlus("mixed-units", st);
        imp.getCalibration().setUnit("micron");
        imp.getCalibration().pixelWidth = 0.1;
        imp.getCalibration().pixelHeight = 0.1;
        imp.getCalibration().setZUnit("nm");
        imp.getCalibration().pixelDepth = 300;
        return imp;
    }

    @Test
    void unitsConvertToNm() {
        assertEquals(65, Sampling.toNm(0.065, "µm"), 1e-9);
        assertEquals(65, Sampling.toNm(0.065, "micron"), 1e-9);
        assertEquals(65, Sampling.toNm(65, "nm"), 1e-9);
        assertEquals(2e6, Sampling.toNm(2, "mm"), 1e-9);
        assertTrue(Double.isNaN(Sampling.toNm(1, "pixel")));
    }

    @Test
    void zStepIsReadInTheZUnit() {
        ImagePlus imp = micronPixelsNmSteps();
        assertEquals("nm", imp.getCalibration().getZUnit());
        assertEquals(100, Sampling.pixelNm(imp), 1e-9);
        assertEquals(300, Sampling.zStepNm(imp), 1e-9); // not 300 µm = 300000 nm
    }

    @Test
    void missingSizesSayWhatToSet() {
        ImagePlus imp = micronPixelsNmSteps();
        imp.getCalibration().setUnit("pixel");
        imp.getCalibration().pixelWidth = 1;
        FluoreconException e = assertThrows(FluoreconException.class, () -> Sampling.requirePixelNm(imp, "a PSF"));
        assertEquals("Image 'mixed-units' has no pixel size (unit 'pixel'); set it in Image › Properties… "
                + "(e.g. 0.065 micron) for a PSF.", e.getMessage());
        imp.getCalibration().setZUnit("pixel");
        e = assertThrows(FluoreconException.class, () -> Sampling.requireZStepNm(imp, "a PSF"));
        assertTrue(e.getMessage().contains("without a z step"), e.getMessage());
    }
}
