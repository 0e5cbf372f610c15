package org.fluorecon.ij;

import ij.Macro;
import ij.gui.GenericDialog;
import java.awt.GraphicsEnvironment;
import java.util.ArrayList;
import java.util.List;
import org.fluorecon.core.FluoreconException;

/**
 * Command parameters from one place: a GenericDialog (which also reads macro options) when a
 * display exists, or the macro options alone when headless, where building a dialog throws.
 * Field labels are the macro keys, so both paths read the same {@code key=value} options.
 */
public final class Params {
    private final boolean headless;
    private final String options;
    private final GenericDialog gd;
    private final String usage;
    private final List<Object> defaults = new ArrayList<>();
    private int index;

    /**
     * @param title dialog title
     * @param usage example options for the headless error message
     */
    public Params(String title, String usage) {
        this.headless = GraphicsEnvironment.isHeadless();
        this.options = Macro.getOptions();
        this.usage = usage;
        this.gd = headless ? null : new GenericDialog(title);
    }

    public boolean isHeadless() {
        return headless;
    }

    /** The raw macro option (e.g. {@code save}), or {@code def}; works in every mode. */
    public String option(String key, String def) {
        return options == null ? def : Macro.getValue(options, key, def);
    }

    public boolean hasOption(String key) {
        return options != null && Macro.getValue(options, key, null) != null;
    }

    public void addChoice(String key, String[] items, String def) {
        if (gd != null) {
            gd.addChoice(key, items, def);
        }
        defaults.add(def);
    }

    public void addNumber(String key, double def) {
        if (gd != null) {
            gd.addNumericField(key, def, 0);
        }
        defaults.add(def);
    }

    public void addDecimal(String key, double def, int digits) {
        if (gd != null) {
            gd.addNumericField(key, def, digits);
        }
        defaults.add(def);
    }

    public void addString(String key, String def) {
        if (gd != null) {
            gd.addStringField(key, def, 20);
        }
        defaults.add(def);
    }

    public void addFile(String key, String def) {
        if (gd != null) {
            gd.addFileField(key, def);
        }
        defaults.add(def);
    }

    public void addCheckbox(String key, boolean def) {
        if (gd != null) {
            gd.addCheckbox(key, def);
        }
        defaults.add(def);
    }


    /** Shows the dialog (or checks that headless options exist); false when the user cancelled. */
    public boolean show() {
        if (gd != null) {
            gd.showDialog();
            return !gd.wasCanceled();
        }
        if (options == null) {
            throw new FluoreconException("Running headless: give the parameters as macro options, e.g. " + usage);
        }
        return true;
    }

    public String nextChoice(String key) {
        if (gd != null) {
            return gd.getNextChoice();
        }
        return Macro.getValue(options, key, (String) nextDefault());
    }

    public String nextFile(String key) {
        if (gd != null) {
            return gd.getNextString();
        }
        return Macro.getValue(options, key, (String) nextDefault());
    }

    public int nextInt(String key) {
        if (gd != null) {
            double v = gd.getNextNumber();
            if (gd.invalidNumber()) {
                throw new FluoreconException(key + " is not a number; give a whole number of pixels or threads.");
            }
            return checkInt(key, v);
        }
        double def = (Double) nextDefault();
        String s = Macro.getValue(options, key, null);
        if (s == null) {
            return (int) def;
        }
        try {
            return checkInt(key, Double.parseDouble(s.trim()));
        } catch (NumberFormatException e) {
            throw new FluoreconException(key + " = '" + s + "' is not a number; give a whole number.");
        }
    }

    public String nextString(String key) {
        return nextFile(key);
    }

    public double nextDouble(String key) {
        if (gd != null) {
            double v = gd.getNextNumber();
            if (gd.invalidNumber()) {
                throw new FluoreconException(key + " is not a number; give a decimal number.");
            }
            return v;
        }
        double def = (Double) nextDefault();
        String s = Macro.getValue(options, key, null);
        if (s == null) {
            return def;
        }
        try {
            return Double.parseDouble(s.trim());
        } catch (NumberFormatException e) {
            throw new FluoreconException(key + " = '" + s + "' is not a number; give a decimal number, e.g. " + def + ".");
        }
    }

    public boolean nextBoolean(String key) {
        if (gd != null) {
            return gd.getNextBoolean();
        }
        nextDefault();
        // as GenericDialog in macro mode: a checkbox is on when its key appears as a word
        String padded = " " + options.trim() + " ";
        return padded.contains(" " + key + " ");
    }

    private Object nextDefault() {
        return defaults.get(index++);
    }

    private static int checkInt(String key, double v) {
        if (v != Math.rint(v) || Math.abs(v) > Integer.MAX_VALUE) {
            throw new FluoreconException(key + " = " + v + " is not a whole number.");
        }
        return (int) v;
    }
}
