package org.fluorecon.core;

import ij.measure.ResultsTable;
import java.nio.file.Path;
import java.util.Map;

/** The installed models and their cards as one table (one row per model file). */
public final class ModelCatalog {

    private ModelCatalog() {
    }

    /** Reads every card (without loading the networks) into a table; unreadable cards get an error column. */
    public static ResultsTable table(Map<String, Path> models) {
        ResultsTable rt = new ResultsTable();
        rt.showRowNumbers(false);
        rt.setNaNEmptyCells(true); // a metric a card lacks is absent, not 0
        for (Map.Entry<String, Path> e : models.entrySet()) {
            rt.incrementCounter();
            rt.addValue("model", e.getKey());
            try {
                ModelCard c = ModelCard.fromMetadata(OnnxMetadata.read(e.getValue()));
                rt.addValue("name", c.name);
                rt.addValue("task", c.task);
                rt.addValue("method", c.method);
                rt.addValue("axes", c.axesIn);
                rt.addValue("channels", c.channelsIn + ">" + c.channelsOut);
                rt.addValue("tile", ModelCard.join(c.tileDefault));
                rt.addValue("halo", ModelCard.join(c.tileHalo));
                rt.addValue("multiple", ModelCard.join(c.tileMultiple));
                rt.addValue("scale", ModelCard.join(c.scale));
                rt.addValue("norm", c.norm);
                rt.addValue("outputs", c.outputs);
                rt.addValue("version", c.fluoreconVersion);
                rt.addValue("model.version", c.metadata().getOrDefault("model.version", ""));
                rt.addValue("model.sha256", c.metadata().getOrDefault("model.sha256", ""));
                rt.addValue("license", c.license);
                for (Map.Entry<String, String> m : c.metrics.entrySet()) {
                    rt.addValue("metrics." + m.getKey(), m.getValue());
                }
                rt.addValue("description", c.description);
                rt.addValue("error", "");
            } catch (FluoreconException ex) {
                rt.addValue("error", ex.getMessage());
            }
            rt.addValue("file", e.getValue().toString());
        }
        return rt;
    }
}
