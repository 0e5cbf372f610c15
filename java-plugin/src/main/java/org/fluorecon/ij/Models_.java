package org.fluorecon.ij;

import ij.IJ;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.fluorecon.core.FluoreconException;
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
                Commands.saveTable(table, save, "the model table"); // CSV; absent metrics stay empty
            } catch (FluoreconException e) {
                Commands.fail(TITLE, e.getMessage());
                return;
            }
        }
        if (params.isHeadless()) {
            for (int i = 0; i < table.size(); i++) {
                IJ.log(cell(table, "model", i) + "\t" + cell(table, "task", i) + "\t" + cell(table, "file", i));
            }
        } else {
            table.show(TITLE);
        }
    }

    /** The text of a cell; "" for an empty one (the table's empty cells read "NaN"). */
    private static String cell(ResultsTable table, String column, int row) {
        String v = table.columnExists(column) ? table.getStringValue(column, row) : null;
        return v == null || v.equals("NaN") ? "" : v;
    }
}
