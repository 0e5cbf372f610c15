package org.fluorecon.tasks.unmix;

import ij.ImagePlus;
import ij.measure.Calibration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.ImageConversion;
import org.fluorecon.server.JobSession;
import org.fluorecon.server.ServerClient;
import org.fluorecon.server.ServerJob;

/**
 * Spectral unmixing of a multichannel / lambda-stack image on the model server (job task
 * {@code unmix}, {@code fluorecon.tasks.unmix.UnmixSpec}), TrackMate style: {@link #checkInput()},
 * {@link #process(Progress)}, {@link #getErrorMessage()}. The output has one channel per label
 * (then, with {@link Settings#residual}, one residual channel per input channel), the input's
 * slices, frames and calibration, and is titled {@code <title>-unmixed}.
 */
public final class UnmixServerJob extends ServerJob<UnmixServerJob> {
    public static final List<String> METHODS = List.of("nnls", "nmf", "learned");

    /** What the user chose; names as in {@code UnmixSpec}. */
    public static final class Settings {
        public String method = "nnls";
        /** Comma list of built-in spectra (e.g. "DAPI,EGFP,mCherry"); empty for blind or learned. */
        public String spectra = "";
        /** Number of labels for blind unmixing (NMF; spectra are then ignored); 0 to use the spectra. */
        public int labels = 0;
        public boolean residual = false;
        public double offset = 0;
        public double lambdaStartNm = 430;
        public double lambdaStopNm = 710;
        /**
         * Measured spectra (channels × labels, e.g. {@link org.fluorecon.tasks.unmix.RoiSpectra#mixing}); when set
         * they replace {@link #spectra} and travel as the spec's {@code mixing}.
         */
        public double[][] mixing;
        /** Names of the {@link #mixing} columns ({@code label_names}); null for label1, label2, … */
        public List<String> labelNames;
        /** Per-channel background subtracted with the offset ({@code background}); null for none. */
        public double[] background;
    }

    private final Settings settings;
    private List<String> channelNames = new ArrayList<>();

    public UnmixServerJob(ImagePlus input, Settings settings, ServerClient client) {
        super(client, "Unmixing", input, "Image", "a multichannel or lambda-stack image");
        this.settings = settings;
    }

    /** The spectra as a list of names (blanks dropped). */
    public static List<String> spectraList(String text) {
        List<String> names = new ArrayList<>();
        if (text != null) {
            for (String s : text.split(",")) {
                if (!s.trim().isEmpty()) {
                    names.add(s.trim());
                }
            }
        }
        return names;
    }

    @Override
    protected Map<String, Object> spec() {
        int channels = ImageConversion.dimensions(input)[0];
        if (channels < 2) {
            throw new FluoreconException("Image '" + input.getTitle() + "' has " + channels + " channel; unmixing needs "
                    + "a multichannel or lambda-stack image (Image › Hyperstacks › Stack to Hyperstack…).");
        }
        String method = settings.method;
        if (!METHODS.contains(method)) {
            throw new FluoreconException("method = '" + method + "' is not an unmixing method; use one of " + METHODS + ".");
        }
        List<String> spectra = spectraList(settings.spectra);
        if (settings.labels < 0) {
            throw new FluoreconException("labels = " + settings.labels + " is negative; give the number of labels for "
                    + "blind unmixing, or 0 with spectra.");
        }
        // labels = N means blind unmixing whatever the spectra field holds (a dialog always has one)
        boolean blind = settings.labels > 0;
        if ("nnls".equals(method) && blind) {
            method = "nmf"; // as the CLI: --blind means NMF
        }
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("task", "unmix");
        spec.put("method", method);
        if (settings.mixing != null) {
            measuredSpectra(spec, method, channels);
        } else if ("learned".equals(method)) {
            if (blind) {
                throw new FluoreconException("method = learned takes its labels from its model; set labels = 0.");
            }
        } else if (blind) {
            if (settings.labels > channels) {
                throw new FluoreconException("labels = " + settings.labels + " cannot be found in " + channels
                        + " channels; use at most " + channels + ".");
            }
            spec.put("blind", settings.labels);
        } else if (!spectra.isEmpty()) {
            if (spectra.size() > channels) {
                throw new FluoreconException(spectra.size() + " spectra cannot be unmixed from " + channels
                        + " channels; record at least as many channels as labels.");
            }
            spec.put("spectra", spectra);
        } else {
            throw new FluoreconException("Give spectra (e.g. spectra=[DAPI,EGFP,mCherry]) or, for unknown spectra, "
                    + "labels = N (blind unmixing).");
        }
        if (!(settings.lambdaStopNm > settings.lambdaStartNm) || !(settings.lambdaStartNm > 200)) {
            throw new FluoreconException("lambda range " + settings.lambdaStartNm + "–" + settings.lambdaStopNm
                    + " nm is not valid; give the first band's lower and the last band's upper edge, e.g. 430 and 710.");
        }
        spec.put("lambda_start_nm", settings.lambdaStartNm);
        spec.put("lambda_stop_nm", settings.lambdaStopNm);
        spec.put("offset", settings.offset);
        spec.put("residual", settings.residual);
        return spec;
    }

    private void measuredSpectra(Map<String, Object> spec, String method, int channels) {
        if (!"nnls".equals(method)) {
            throw new FluoreconException("Spectra measured in ROIs are unmixed by nnls; method = " + method
                    + (settings.labels > 0 ? " (labels > 0 means blind unmixing: set labels = 0)" : "") + ".");
        }
        double[][] m = settings.mixing;
        if (m.length != channels || m[0].length < 1) {
            throw new FluoreconException("The measured spectra have " + m.length + " channels but image '"
                    + input.getTitle() + "' has " + channels + ".");
        }
        List<Object> rows = new ArrayList<>();
        for (double[] row : m) {
            List<Object> r = new ArrayList<>();
            for (double v : row) {
                r.add(v);
            }
            rows.add(r);
        }
        spec.put("mixing", rows);
        if (settings.labelNames != null) {
            spec.put("label_names", new ArrayList<>(settings.labelNames));
        }
        if (settings.background != null) {
            if (settings.background.length != channels) {
                throw new FluoreconException("The background spectrum has " + settings.background.length
                        + " values but the image has " + channels + " channels.");
            }
            List<Object> bg = new ArrayList<>();
            for (double v : settings.background) {
                bg.add(v);
            }
            spec.put("background", bg);
        }
    }

    @Override
    protected ImagePlus finish(ImagePlus out) {
        return shape(out);
    }

    private ImagePlus shape(ImagePlus out) {
        int[] d = ImageConversion.dimensions(input);
        int planes = d[1] * d[2];
        if (out.getWidth() != input.getWidth() || out.getHeight() != input.getHeight()
                || out.getStackSize() % planes != 0) {
            throw new FluoreconException("The server's result is " + out.getWidth() + "x" + out.getHeight() + "x"
                    + out.getStackSize() + ", which does not fit the input's " + input.getWidth() + "x"
                    + input.getHeight() + " with " + planes + " slice(s) × frame(s).");
        }
        int nOut = out.getStackSize() / planes;
        out.setDimensions(nOut, d[1], d[2]);
        out.setOpenAsHyperStack(true);
        String serverInfo = out.getInfoProperty();
        String names = JobSession.infoValue(serverInfo, "channels");
        channelNames = names == null ? new ArrayList<>() : spectraList(names);
        if (channelNames.size() == nOut) {
            for (int t = 0; t < d[2]; t++) {
                for (int z = 0; z < d[1]; z++) {
                    for (int c = 0; c < nOut; c++) {
                        out.getStack().setSliceLabel(channelNames.get(c),
                                ImageConversion.stackIndex(c, z, t, nOut, d[1]) + 1);
                    }
                }
            }
        }
        Calibration cal = input.getCalibration().copy();
        cal.disableDensityCalibration();
        out.setCalibration(cal);
        out.setTitle(input.getShortTitle() + "-unmixed");
        out.setProperty("Info", info() + (serverInfo == null ? "" : "server.info = " + serverInfo.trim()
                .replace("\n", "\nserver.info = ") + "\n"));
        out.getProcessor().resetMinAndMax();
        return out;
    }

    /** Provenance for the output's Info. */
    public String info() {
        return provenance("Unmix", "unmix", "unmix.channels = " + String.join(",", channelNames));
    }

    /** The output's channel names (labels, then residual channels), once processed. */
    public List<String> getChannelNames() {
        return new ArrayList<>(channelNames);
    }
}
