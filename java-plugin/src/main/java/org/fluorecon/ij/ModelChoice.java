package org.fluorecon.ij;

import ij.IJ;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.fluorecon.core.ModelLibrary;

/**
 * The options a local model command shares, read in dialog order: {@code model} (an installed
 * model, or {@code [file]}, which a macro giving only {@code model_file=} gets) and
 * {@code model_file}, then optionally {@code tile}, {@code threads} and {@code use_gpu}.
 */
public final class ModelChoice {
    public final Map<String, Path> models;
    private final List<String> names;
    private String choice;
    private String file;
    public int tile;
    public int threads;
    public boolean useGpu;

    /** The models installed in the plugin's folders. */
    public ModelChoice() {
        models = ModelLibrary.list(ModelLibrary.folders(IJ.getDirectory("imagej")));
        names = new ArrayList<>(models.keySet());
        names.add(Commands.FILE_CHOICE);
    }

    /** The first choice that {@code preferred} accepts, else the first choice. */
    public String first(Predicate<String> preferred) {
        for (String n : names) {
            if (preferred.test(n)) {
                return n;
            }
        }
        return names.get(0);
    }

    /** Adds {@code model} (preselecting {@code preselect}) and {@code model_file}. */
    public void addModel(Params params, String preselect) {
        boolean fileGiven = params.hasOption("model_file") && !params.hasOption("model");
        params.addChoice("model", names.toArray(new String[0]), fileGiven ? Commands.FILE_CHOICE : preselect);
        params.addFile("model_file", "");
    }

    public void readModel(Params params) {
        choice = params.nextChoice("model");
        file = params.nextFile("model_file").trim();
    }

    /** Adds {@code tile} and {@code threads} (0 = automatic) and {@code use_gpu}. */
    public void addRuntime(Params params) {
        params.addNumber("tile", 0);
        params.addNumber("threads", 0);
        params.addCheckbox("use_gpu", false);
    }

    public void readRuntime(Params params) {
        tile = params.nextInt("tile");
        threads = params.nextInt("threads");
        useGpu = params.nextBoolean("use_gpu");
    }

    /**
     * The whole dialog of a command that only runs a model: {@code model} (preselecting
     * {@code preselect}), {@code model_file}, {@code tile}, {@code threads}, {@code use_gpu}, read
     * back in that order. False when the user cancelled.
     */
    public boolean ask(Params params, String preselect) {
        addModel(params, preselect);
        addRuntime(params);
        if (!params.show()) {
            return false;
        }
        readModel(params);
        readRuntime(params);
        return true;
    }

    /** The chosen model file; {@code noModel} when there is none. */
    public Path resolve(String noModel) {
        return Commands.resolveModel(choice, file, models, noModel);
    }

    /** The folders searched for models, for messages. */
    public static List<Path> folders() {
        return ModelLibrary.folders(IJ.getDirectory("imagej"));
    }
}
