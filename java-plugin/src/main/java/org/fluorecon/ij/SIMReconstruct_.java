package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.plugin.PlugIn;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.core.Job;
import org.fluorecon.core.ModelLibrary;
import org.fluorecon.core.SimLearnedJob;
import org.fluorecon.core.SimStack;
import org.fluorecon.onnx.Predictor;
import org.fluorecon.server.RemoteSim;
import org.fluorecon.server.ServerClient;

/**
 * Plugins › fluorecon › SIM reconstruction…  A raw SIM stack (angles × phases frames per z plane)
 * to an image on a 2× finer grid, whose calibration carries the halved pixel size.
 * {@code method=classical}: generalised Wiener SIM on the model server, pattern estimated
 * ({@code estimate}) or given ({@code angle_offset}, {@code line_spacing}); {@code method=learned}:
 * a SIM model (card task=sim) run locally by ONNX Runtime, taking all frames or the reduced set
 * its card lists. Macro:
 * {@code run("SIM reconstruction...", "method=classical order=angle-phase-z angles=3 phases=3 estimate na=1.4 wavelength=520 pixel_size=0 line_spacing=210 angle_offset=8 wiener=0.05")},
 * {@code run("SIM reconstruction...", "method=learned order=angle-phase-z angles=3 phases=3 model=[file] model_file=/path/sim_2d_3frames.onnx")};
 * {@code save=/path/out.tif} also writes the result.
 */
public class SIMReconstruct_ implements PlugIn {
    static final String TITLE = "fluorecon SIM reconstruction";
    static final String[] METHODS = {"classical", "learned"};

    private ImagePlus image;
    private ImagePlus result;
    private String jobId;

    public void setImage(ImagePlus imp) {
        this.image = imp;
    }

    public ImagePlus getResult() {
        return result;
    }

    /** The server job of the last classical run; null otherwise. */
    public String getJobId() {
        return jobId;
    }

    @Override
    public void run(String arg) {
        result = null;
        jobId = null;
        try {
            ImagePlus imp = image != null ? image : WindowManager.getCurrentImage();
            Map<String, Path> models = ModelLibrary.list(ModelLibrary.folders(IJ.getDirectory("imagej")));
            List<String> names = new ArrayList<>(models.keySet());
            names.add(Commands.FILE_CHOICE);
            RemoteSim.Settings s = new RemoteSim.Settings();
            Params params = new Params(TITLE, "method=classical order=angle-phase-z angles=3 phases=3 estimate "
                    + "na=1.4 wavelength=520 pixel_size=0 line_spacing=210 angle_offset=8 wiener=0.05");
            boolean fileGiven = params.hasOption("model_file") && !params.hasOption("model");
            params.addChoice("method", METHODS, "classical");
            params.addChoice("order", SimStack.ORDERS, s.order);
            params.addNumber("angles", s.angles);
            params.addNumber("phases", s.phases);
            params.addCheckbox("estimate", s.estimate);
            params.addDecimal("na", s.na, 2);
            params.addDecimal("wavelength", s.wavelengthNm, 1);
            params.addDecimal("pixel_size", s.pixelSizeNm, 2);
            params.addDecimal("line_spacing", s.lineSpacingNm, 1);
            params.addDecimal("angle_offset", s.angleOffsetDeg, 2);
            params.addDecimal("wiener", s.wiener, 3);
            params.addChoice("model", names.toArray(new String[0]), fileGiven ? Commands.FILE_CHOICE : defaultModel(names));
            params.addFile("model_file", "");
            params.addNumber("tile", 0);
            params.addNumber("threads", 0);
            params.addCheckbox("use_gpu", false);
            if (!params.show()) {
                return;
            }
            String method = params.nextChoice("method");
            s.order = params.nextChoice("order");
            s.angles = params.nextInt("angles");
            s.phases = params.nextInt("phases");
            s.estimate = params.nextBoolean("estimate");
            s.na = params.nextDouble("na");
            s.wavelengthNm = params.nextDouble("wavelength");
            s.pixelSizeNm = params.nextDouble("pixel_size");
            s.lineSpacingNm = params.nextDouble("line_spacing");
            s.angleOffsetDeg = params.nextDouble("angle_offset");
            s.wiener = params.nextDouble("wiener");
            String choice = params.nextChoice("model");
            String file = params.nextFile("model_file").trim();
            int tile = params.nextInt("tile");
            int threads = params.nextInt("threads");
            boolean useGpu = params.nextBoolean("use_gpu");
            String save = params.option("save", null);

            Job job;
            if ("learned".equals(method)) {
                Path model = Commands.resolveModel(choice, file, models, "No SIM model chosen; install "
                        + "sim_2d_9frames.onnx / sim_2d_3frames.onnx in " + ModelLibrary.folders(IJ.getDirectory("imagej"))
                        + " or give model_file=/path/to/model.onnx.");
                IJ.showStatus("SIM reconstruction: loading model...");
                job = new SimLearnedJob(imp, model, s.order, s.angles, s.phases, tile, threads, useGpu, Predictor::open);
            } else if ("classical".equals(method)) {
                job = new RemoteSim(imp, s, ServerClient.fromConfig());
                IJ.showStatus("SIM reconstruction: sending the raw stack to the server...");
            } else {
                throw new FluoreconException("method = '" + method + "' is not a SIM method; use classical or learned.");
            }
            Commands.check(job);
            IJ.resetEscape();
            boolean ok;
            try {
                ok = Commands.process(TITLE, job, new StatusProgress("SIM reconstruction", null));
            } finally {
                if (job instanceof RemoteSim) {
                    jobId = ((RemoteSim) job).getJobId();
                }
            }
            if (!ok) {
                return;
            }
            ImagePlus out = job instanceof SimLearnedJob ? ((SimLearnedJob) job).getResult() : ((RemoteSim) job).getResult();
            Commands.save(out, save);
            result = out;
            IJ.showStatus("SIM reconstruction: done" + (job instanceof SimLearnedJob
                    ? " on " + ((SimLearnedJob) job).getModel().provider() : " on the server"));
            Commands.show(out, params);
        } catch (FluoreconException e) {
            Commands.fail(TITLE, e.getMessage());
        }
    }

    /** A SIM model by its name, else the first model. */
    static String defaultModel(List<String> names) {
        for (String n : names) {
            if (n.startsWith("sim_")) {
                return n;
            }
        }
        return names.get(0);
    }
}
