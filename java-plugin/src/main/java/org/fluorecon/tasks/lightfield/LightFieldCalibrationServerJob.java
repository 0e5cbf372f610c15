package org.fluorecon.tasks.lightfield;

import ij.ImagePlus;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageChecks;
import org.fluorecon.core.Version;
import org.fluorecon.server.JobSession;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * Light-field calibration from a white image on the model server (job task
 * {@code lightfield-calibrate}, the same fit as {@code fluorecon lightfield calibrate}). The
 * result image is the white image rectified to {@code nnum} pixels per lenslet (titled
 * {@code <title>-rectified}); {@link #getCalibrationJson()} is the lenslet grid JSON the CLI writes.
 */
public final class LightFieldCalibrationServerJob extends ServerJob<LightFieldCalibrationServerJob> {
    private final ImagePlus white;
    private final int nnum;
    private String calibrationJson;

    /**
     * @param nnum pixels per lenslet after rectification (odd), or 0 for the odd number nearest the measured pitch
     */
    public LightFieldCalibrationServerJob(ImagePlus white, int nnum, ServerClient client) {
        super(client, "Light-field calibration");
        this.white = white;
        this.nnum = nnum;
    }

    @Override
    protected Map<String, Object> spec() {
        ImageChecks.checkOpen(white, "White image", "the white (radiometry) image of the light-field "
                    + "camera");
        if (white.getStackSize() != 1) {
            throw new FluoreconException("White image '" + white.getTitle() + "' has " + white.getStackSize()
                    + " planes; give one 2D image.");
        }
        if (nnum != 0 && (nnum < 3 || nnum % 2 == 0)) {
            throw new FluoreconException("nnum = " + nnum + ": give an odd number of pixels per lenslet (≥ 3), or 0 to "
                    + "take the one nearest the measured pitch.");
        }
        return Json.object("task", "lightfield-calibrate", "nnum", nnum == 0 ? null : nnum);
    }

    @Override
    protected ImagePlus upload() {
        return white;
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        String info = out.getInfoProperty();
        calibrationJson = JobSession.infoValue(info, "calibration");
        if (calibrationJson == null) {
            calibrationJson = JobSession.infoValue(job.getMessage() == null ? null : job.getMessage()
                    .replace("Done. ", ""), "calibration");
        }
        if (calibrationJson == null) {
            throw new FluoreconException("The server's calibration result carries no lenslet grid; update the server.");
        }
        out.setTitle(white.getShortTitle() + "-rectified");
        out.setProperty("Info", "fluorecon.command = Light-field (calibrate)\nfluorecon.version = " + Version.get()
                + "\ncalibration = " + calibrationJson + "\nserver.job = " + job.getJobId() + "\ninput.title = "
                + white.getTitle() + "\n");
        return out;
    }

    /** The lenslet grid JSON (as {@code fluorecon lightfield calibrate} writes it), after a successful process. */
    public String getCalibrationJson() {
        return calibrationJson;
    }

    /** The grid as a map, for {@link LightFieldServerJob.Settings#calibration} or {@code LensletGrid.fromMap}. */
    public Map<String, Object> getCalibration() {
        return calibrationJson == null ? null : Json.parseObject(calibrationJson);
    }
}
