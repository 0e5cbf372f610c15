package org.fluorecon.ij;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import java.nio.file.Path;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.server.RemoteQualityCheck;
import org.fluorecon.server.ServerClient;

/**
 * Plugins › fluorecon › Check result (QC)…  Compares a result with the raw image it was made from on
 * the model server (as {@code fluorecon qc}): shows the consistency map ({@code <title>-consistency},
 * channels consistency and its local score), a table of the figures, and the warnings in the Log.
 * Macro: {@code run("Check result (QC)...", "input=raw.tif result=raw-denoised model_file=/path/model.onnx")};
 * {@code save=/path/map.tif} also writes the map.
 */
public class CheckResult_ implements PlugIn {
    static final String TITLE = "fluorecon Check result";

    private ImagePlus inputImage;
    private ImagePlus resultImage;
    private ImagePlus consistency;
    private ResultsTable table;
    private String jobId;

    /** Images to check instead of the ones named by title (for scripts). */
    public void setImages(ImagePlus input, ImagePlus result) {
        this.inputImage = input;
        this.resultImage = result;
    }

    /** The consistency maps of the last successful run; null otherwise. */
    public ImagePlus getResult() {
        return consistency;
    }

    /** The figures of the last successful run; null otherwise. */
    public ResultsTable getTable() {
        return table;
    }

    public String getJobId() {
        return jobId;
    }

    @Override
    public void run(String arg) {
        consistency = null;
        table = null;
        jobId = null;
        try {
            String[] titles = WindowManager.getImageTitles();
            if (inputImage == null && titles.length < 2) {
                throw new FluoreconException("Check result needs two open images: the raw input and the result made "
                        + "from it.");
            }
            Params params = new Params(TITLE, "input=raw.tif result=raw-denoised model_file=/path/to/model.onnx");
            String[] choices = titles.length > 0 ? titles : new String[] {""};
            params.addChoice("input", choices, choices[0]);
            params.addChoice("result", choices, choices[choices.length - 1]);
            params.addFile("model_file", "");
            if (!params.show()) {
                return;
            }
            String inputTitle = params.nextChoice("input");
            String resultTitle = params.nextChoice("result");
            String modelFile = params.nextFile("model_file").trim();
            String save = params.option("save", null);
            ImagePlus in = inputImage != null ? inputImage : image("input", inputTitle);
            ImagePlus res = resultImage != null ? resultImage : image("result", resultTitle);

            RemoteQualityCheck job = new RemoteQualityCheck(in, res, modelFile.isEmpty() ? null : Path.of(modelFile),
                    ServerClient.fromConfig());
            Commands.check(job);
            IJ.resetEscape();
            StatusProgress progress = new StatusProgress("Check result", null);
            IJ.showStatus("Check result: sending the images to the server...");
            boolean ok;
            try {
                ok = Commands.process(TITLE, job, progress);
            } finally {
                jobId = job.getJobId();
            }
            if (!ok) {
                return;
            }
            ImagePlus out = job.getResult();
            Commands.save(out, save, "the map");
            consistency = out;
            table = job.table();
            for (String w : job.warnings()) {
                IJ.log(TITLE + " (" + res.getTitle() + "): warning: " + w);
            }
            IJ.showStatus("Check result: done, " + job.warnings().size() + " warning(s)");
            if (!params.isHeadless()) {
                table.show("QC of " + res.getTitle());
            }
            Commands.show(out, params);
        } catch (FluoreconException e) {
            Commands.fail(TITLE, e.getMessage());
        }
    }

    private static ImagePlus image(String key, String title) {
        ImagePlus imp = WindowManager.getImage(title);
        if (imp == null) {
            throw new FluoreconException(key + " = '" + title + "' is not an open image; open it first or give the "
                    + "title of an open image.");
        }
        return imp;
    }
}
