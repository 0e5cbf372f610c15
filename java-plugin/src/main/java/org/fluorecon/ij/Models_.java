package org.fluorecon.ij;

import ij.IJ;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.ModelCatalog;
import org.fluorecon.core.ModelLibrary;

/** Plugins › fluorecon › Models…  Lists installed models and their cards. Macro option: {@code save=/path/models.csv}. */
@Menu(label = "Models...")
public class Models_ implements PlugIn {
    static final String TITLE = "fluorecon models";

    private ResultsTable table;

    /** The table of the last run. */
    public ResultsTable getTable() {
        return table;
    }

    @Override
    public void run(String arg) {
        Params params = new Params(TITLE, "save=/path/to/models.csv");
        List<Path> folders = ModelLibrary.folders(IJ.getDirectory("imagej"));
        Map<String, Path> models = ModelLibrary.list(folders);
        table = ModelCatalog.table(models);
        if (models.isEmpty()) {
            IJ.log(TITLE + ": no models found in " + folders + "; copy .onnx models there or set -D"
                    + ModelLibrary.PROPERTY + "=/path or " + ModelLibrary.ENV + ".");
        }
        String save = params.option("save", null);
        if (save != null && !save.isBlank()) {
            try {
                table.saveAs(save.trim());
            } catch (java.io.IOException e) {
                Commands.fail(TITLE, "Cannot save the model table to " + save + ": " + e.getMessage());
                return;
            }
        }
        if (params.isHeadless()) {
            for (int i = 0; i < table.size(); i++) {
                IJ.log(table.getStringValue("model", i) + "\t" + table.getStringValue("task", i) + "\t"
                        + table.getStringValue("file", i));
            }
        } else {
            table.show(TITLE);
        }
    }

}
