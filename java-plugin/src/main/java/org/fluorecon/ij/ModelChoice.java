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

    /**
     * Also offers {@code extra} (e.g. a command's classical methods, run without a model file) before
     * {@code [file]}; {@link #chosen()} tells which was picked.
     */
    public void alsoOffer(List<String> extra) {
        for (String e : extra) {
            if (!names.contains(e)) {
                names.add(names.size() - 1, e);
            }
        }
    }

    /** The {@code model} item chosen (a model's name, {@code [file]} or an item of {@link #alsoOffer}). */
    public String chosen() {
        return choice;
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

    /** Adds {@code model} (preselecting {@code preselect}) and {@code model_file}, read into this choice. */
    public void addModel(Params params, String preselect) {
        boolean fileGiven = params.hasOption("model_file") && !params.hasOption("model");
        params.choice("model", names.toArray(new String[0]), fileGiven ? Commands.FILE_CHOICE : preselect,
                v -> choice = v);
        params.file("model_file", "", v -> file = v.trim());
    }

    /** Adds {@code tile} and {@code threads} (0 = automatic) and {@code use_gpu}, read into this choice. */
    public void addRuntime(Params params) {
        params.integer("tile", 0, v -> tile = v);
        params.integer("threads", 0, v -> threads = v);
        params.checkbox("use_gpu", false, v -> useGpu = v);
    }

    /**
     * The whole dialog of a command that only runs a model: {@code model} (preselecting
     * {@code preselect}), {@code model_file}, {@code tile}, {@code threads}, {@code use_gpu}. False
     * when the user cancelled.
     */
    public boolean ask(Params params, String preselect) {
        addModel(params, preselect);
        addRuntime(params);
        return params.show();
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
