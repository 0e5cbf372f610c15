package org.fluorecon.tasks.qc;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.measure.ResultsTable;
import java.nio.file.Path;
import org.fluorecon.core.FluoreconException;
import org.fluorecon.ij.Commands;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.Output;
import org.fluorecon.ij.Params;

/**
 * Plugins › fluorecon › Check result (QC)…  Compares a result with the raw image it was made from on
 * the model server (as {@code fluorecon qc}): shows the consistency map ({@code <title>-consistency},
 * channels consistency and its local score), a table of the figures, and the warnings in the Log.
 * Macro: {@code run("Check result (QC)...", "input=raw.tif result=raw-denoised model_file=/path/model.onnx")};
 * {@code save=/path/map.tif} also writes the map, {@code table=/path/qc.csv} the table of figures as CSV
 * (headless, the way to get it).
 */
@Menu(label = "Check result (QC)...")
public class CheckResult_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Check result";

    private ImagePlus resultImage;
    private final Output<ResultsTable> table = output();

    public CheckResult_() {
        super(TITLE, "Check result");
    }

    /** Images to check instead of the ones named by title (for scripts); {@link #setImage} sets the input alone. */
    public void setImages(ImagePlus input, ImagePlus result) {
        setImage(input);
        this.resultImage = result;
    }

    /** The figures of the last successful run; null otherwise. The consistency maps are {@link #getResult()}. */
    public ResultsTable getTable() {
        return table.get();
    }

    @Override
    protected void execute(ImagePlus current) {
        ImagePlus inputImage = image; // the current image does not choose the input: titles do
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
        String tableSave = params.option("table", null);
        ImagePlus in = inputImage != null ? inputImage : image("input", inputTitle);
        ImagePlus res = resultImage != null ? resultImage : image("result", resultTitle);

        QualityCheckServerJob job = new QualityCheckServerJob(in, res, modelFile.isEmpty() ? null : Path.of(modelFile),
                server());
        if (!runJob(job, "sending the images to the server")) {
            return;
        }
        ImagePlus out = job.getResult();
        Commands.saveTable(job.table(), tableSave, "the QC table");
        Commands.save(out, save, "the map");
        result = out;
        table.set(job.table());
        for (String w : job.warnings()) {
            IJ.log(TITLE + " (" + res.getTitle() + "): warning: " + w);
        }
        IJ.showStatus("Check result: done, " + job.warnings().size() + " warning(s)");
        if (!params.isHeadless()) {
            table.get().show("QC of " + res.getTitle());
        }
        Commands.show(out, params);
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
