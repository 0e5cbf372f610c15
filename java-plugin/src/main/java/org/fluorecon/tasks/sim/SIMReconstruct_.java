package org.fluorecon.tasks.sim;

import ij.ImagePlus;
import java.nio.file.Path;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.ij.Commands;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.ModelChoice;
import org.fluorecon.ij.Params;
import org.fluorecon.onnx.Predictor;

/**
 * Plugins › fluorecon › SIM reconstruction…  A raw SIM stack (angles × phases frames per z plane)
 * to an image on a 2× finer grid, whose calibration carries the halved pixel size.
 * {@code method=classical}: generalised Wiener SIM on the model server, pattern estimated
 * ({@code estimate}) or given ({@code angle_offset}, {@code line_spacing}); {@code method=learned}:
 * a SIM model (card task=sim) run locally by ONNX Runtime, taking all frames or the reduced set
 * its card lists. Macro:
 * {@code run("SIM reconstruction...", "method=classical order=angle-phase-z angles=3 phases=3 estimate na=1.4 wavelength=520 pixel_size=0 line_spacing=210 angle_offset=8 wiener=0.05")},
 * {@code run("SIM reconstruction...", "method=learned order=angle-phase-z angles=3 phases=3 model=[file] model_file=/path/sim_2d_3frames.onnx")};
 * 3D SIM (three-beam, classical): {@code mode=3d phases=5 excitation=488 z_step=0} (z step in nm;
 * 0 = the stack's calibration, which the result keeps; phases default to 5 in a 3d macro).
 * {@code save=/path/out.tif} also writes the result.
 */
@Menu(label = "SIM reconstruction...")
public class SIMReconstruct_ extends FluoreconCommand {
    static final String TITLE = "fluorecon SIM reconstruction";
    static final String[] METHODS = {"classical", "learned"};

    public SIMReconstruct_() {
        super(TITLE, "SIM reconstruction");
    }

    @Override
    protected void execute(ImagePlus imp) {
        ModelChoice m = new ModelChoice();
        SimServerJob.Settings s = new SimServerJob.Settings();
        Params params = new Params(TITLE, "method=classical order=angle-phase-z angles=3 phases=3 estimate "
                + "na=1.4 wavelength=520 pixel_size=0 line_spacing=210 angle_offset=8 wiener=0.05");
        params.addChoice("method", METHODS, "classical");
        params.choice("mode", SimServerJob.MODES.toArray(new String[0]), s.mode, v -> s.mode = v);
        params.choice("order", SimStack.ORDERS, s.order, v -> s.order = v);
        params.settings(s, "angles", "phases", "estimate", "na", "wavelength", "pixel_size", "z_step", "excitation",
                "line_spacing", "angle_offset", "wiener");
        m.addModel(params, m.first(n -> n.startsWith("sim_")));
        m.addRuntime(params);
        if (!params.show()) {
            return;
        }
        String method = params.nextChoice("method");
        String save = params.option("save", null);
        if ("3d".equals(s.mode) && Commands.isBatch() && !params.hasOption("phases")) {
            s.phases = 5; // three-beam SIM: 5 phases unless the macro says otherwise
        }
        if ("3d".equals(s.mode) && "learned".equals(method)) {
            throw new FluoreconException("mode = 3d runs with method=classical; the learned SIM models are 2D.");
        }

        ImagePlus out;
        String where;
        if ("learned".equals(method)) {
            Path model = m.resolve("No SIM model chosen; install sim_2d_9frames.onnx / sim_2d_3frames.onnx in "
                    + ModelChoice.folders() + " or give model_file=/path/to/model.onnx.");
            SimLearnedJob job = new SimLearnedJob(imp, model, s.order, s.angles, s.phases, m.tile, m.threads, m.useGpu,
                    Predictor::open);
            if (!runLocal(job, null)) {
                return;
            }
            out = job.getResult();
            where = " on " + job.getModel().provider();
        } else if ("classical".equals(method)) {
            SimServerJob job = new SimServerJob(imp, s, server());
            if (!runJob(job, "sending the raw stack to the server")) {
                return;
            }
            out = job.getResult();
            where = " on the server";
        } else {
            throw new FluoreconException("method = '" + method + "' is not a SIM method; use classical or learned.");
        }
        done(keep(out, save), params, where);
    }
}
