package org.fluorecon.core;

import ij.ImagePlus;
import ij.measure.Calibration;
import java.util.Locale;

/**
 * An image's sampling in nm, as the server's theoretical PSFs need it: the pixel size from
 * {@link Calibration#pixelWidth} in {@link Calibration#getUnit()}, the z step from
 * {@link Calibration#pixelDepth} in {@link Calibration#getZUnit()} (which may differ, e.g. µm pixels
 * and nm steps), and the optics checks every theoretical PSF shares.
 */
public final class Sampling {
    private Sampling() {
    }

    /** A length in {@code unit} as nm; NaN for an unknown unit (e.g. uncalibrated "pixel"). */
    public static double toNm(double value, String unit) {
        if (unit == null || !(value > 0)) {
            return Double.NaN;
        }
        switch (unit.trim().toLowerCase(Locale.ROOT)) {
            case "nm": case "nanometer": case "nanometers": case "nanometre":
                return value;
            case "micron": case "microns": case "um": case "µm": case "\u03bcm": case "micrometer":
            case "micrometers": case "micrometre":
                return value * 1000;
            case "mm": case "millimeter": case "millimetre":
                return value * 1e6;
            case "cm": case "centimeter": case "centimetre":
                return value * 1e7;
            case "inch": case "inches": case "in":
                return value * 25.4e6;
            case "\u00c5": case "a": case "angstrom":
                return value * 0.1;
            default:
                return Double.NaN;
        }
    }

    /** The pixel size (x) in nm; NaN when uncalibrated. */
    public static double pixelNm(ImagePlus imp) {
        Calibration cal = imp.getCalibration();
        return toNm(cal.pixelWidth, cal.getUnit());
    }

    /** The z step in nm, in the calibration's z unit; NaN when unknown. */
    public static double zStepNm(ImagePlus imp) {
        Calibration cal = imp.getCalibration();
        return toNm(cal.pixelDepth, cal.getZUnit());
    }

    /** The pixel size in nm, or a {@link FluoreconException} saying what to set for {@code forWhat}. */
    public static double requirePixelNm(ImagePlus imp, String forWhat) {
        double pixel = pixelNm(imp);
        if (Double.isNaN(pixel)) {
            throw new FluoreconException("Image '" + imp.getTitle() + "' has no pixel size (unit '"
                    + imp.getCalibration().getUnit() + "'); set it in Image › Properties… (e.g. 0.065 micron) for "
                    + forWhat + ".");
        }
        return pixel;
    }

    /** The z step in nm, or a {@link FluoreconException} saying what to set for {@code forWhat}. */
    public static double requireZStepNm(ImagePlus imp, String forWhat) {
        double z = zStepNm(imp);
        if (Double.isNaN(z)) {
            throw new FluoreconException("Image '" + imp.getTitle() + "' is a z-stack without a z step (z unit '"
                    + imp.getCalibration().getZUnit() + "'); set 'Voxel depth' in Image › Properties… for "
                    + forWhat + ".");
        }
        return z;
    }

    /** The checks of a widefield theoretical PSF's optics: {@code 0 < na < ni}, an emission wavelength in nm. */
    public static void checkOptics(double na, double ni, double wavelengthNm) {
        if (!(na > 0 && na < ni)) {
            throw new FluoreconException("na = " + na + " must be positive and below the immersion index ni = "
                    + ni + ".");
        }
        if (!(wavelengthNm > 200 && wavelengthNm < 2000)) {
            throw new FluoreconException("wavelength_nm = " + wavelengthNm + " is not an emission wavelength; "
                    + "give it in nm, e.g. 520.");
        }
    }
}
