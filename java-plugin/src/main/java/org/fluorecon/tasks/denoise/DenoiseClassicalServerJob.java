package org.fluorecon.tasks.denoise;

import ij.ImagePlus;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.server.Json;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * Classical denoising (non-local means, BM3D, their variance-stabilised variants) of an ImageJ image on
 * the model server's {@code denoise-classical} job ({@code fluorecon.tasks.denoise.job}), as
 * {@code fluorecon denoise-classical}: each plane (nlm, vst-nlm: each z-stack) in the image's own units. The
 * result has the input's dimensions and calibration, titled {@code <title>-<method>}.
 */
public final class DenoiseClassicalServerJob extends ServerJob<DenoiseClassicalServerJob> {
    /** The methods offered in Denoise…; the server refuses one it does not have, naming those it has. */
    public static final List<String> METHODS = List.of("nlm", "bm3d", "vst-bm3d", "vst-nlm");

    private final String method;

    public DenoiseClassicalServerJob(ImagePlus input, String method, ServerClient client) {
        super(client, "Denoising (" + method + ")", input, "Image", "a noisy image");
        this.method = method;
    }

    @Override
    protected Map<String, Object> spec() {
        if (!METHODS.contains(method)) {
            throw new FluoreconException("model = '" + method + "' is not a classical denoiser; use one of " + METHODS
                    + ".");
        }
        return Json.object("task", "denoise-classical", "method", method);
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        int[] d = ImageConversion.dimensions(input);
        checkResultSize(out, input.getWidth(), input.getHeight(), input.getStackSize(), "the input's");
        out.setDimensions(d[0], d[1], d[2]);
        out.setOpenAsHyperStack(input.isHyperStack() || input.getNDimensions() > 3);
        out.setCalibration(inputCalibration());
        out.setTitle(input.getShortTitle() + "-" + method);
        return withInfo(out, provenance("Denoise", "denoise_classical", "denoise.method = " + method));
    }
}
