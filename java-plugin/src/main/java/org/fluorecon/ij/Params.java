package org.fluorecon.ij;

import ij.Macro;
import ij.gui.GenericDialog;
import java.awt.GraphicsEnvironment;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.DoubleConsumer;
import java.util.function.IntConsumer;
import org.fluorecon.core.FluoreconException;

/**
 * Command parameters from one place: a GenericDialog (which also reads macro options) when a
 * display exists, or the macro options alone when headless, where building a dialog throws.
 * Field labels are the macro keys, so both paths read the same {@code key=value} options.
 *
 * <p>Each field is declared once: {@link #decimal}, {@link #integer}, {@link #choice}, {@link #text},
 * {@link #file} and {@link #checkbox} take the setter that receives the value; {@link #show()} reads
 * every field in the order it was added (as GenericDialog requires) and calls the setters. Fields
 * added without a setter ({@code add*}) are read by key afterwards with {@code next*}. A job's settings object
 * whose fields carry {@link Option} is added with {@link #settings(Object, String...)}.
 */
public final class Params {
    private enum Kind { CHOICE, INT, DOUBLE, TEXT, BOOLEAN }

    private static final class Entry {
        final String key;
        final Kind kind;
        final Object def;
        final Consumer<Object> set;

        Entry(String key, Kind kind, Object def, Consumer<Object> set) {
            this.key = key;
            this.kind = kind;
            this.def = def;
            this.set = set;
        }
    }

    private final boolean headless;
    private final String options;
    private final GenericDialog gd;
    private final String usage;
    private final List<Entry> fields = new ArrayList<>();
    private final Map<String, Object> values = new HashMap<>();

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

    /** A choice whose value goes to {@code set} when the dialog is read. */
    public void choice(String key, String[] items, String def, Consumer<String> set) {
        if (gd != null) {
            gd.addChoice(key, items, def);
        }
        field(key, Kind.CHOICE, def, set == null ? null : v -> set.accept((String) v));
    }

    /** A whole number whose value goes to {@code set} when the dialog is read. */
    public void integer(String key, double def, IntConsumer set) {
        if (gd != null) {
            gd.addNumericField(key, def, 0);
        }
        field(key, Kind.INT, def, set == null ? null : v -> set.accept((Integer) v));
    }

    /** A decimal number with {@code digits} shown, whose value goes to {@code set} when the dialog is read. */
    public void decimal(String key, double def, int digits, DoubleConsumer set) {
        if (gd != null) {
            gd.addNumericField(key, def, digits);
        }
        field(key, Kind.DOUBLE, def, set == null ? null : v -> set.accept((Double) v));
    }

    /** A text field whose value goes to {@code set} when the dialog is read. */
    public void text(String key, String def, Consumer<String> set) {
        if (gd != null) {
            gd.addStringField(key, def, 20);
        }
        field(key, Kind.TEXT, def, set == null ? null : v -> set.accept((String) v));
    }

    /** A file field whose value goes to {@code set} when the dialog is read. */
    public void file(String key, String def, Consumer<String> set) {
        if (gd != null) {
            gd.addFileField(key, def);
        }
        field(key, Kind.TEXT, def, set == null ? null : v -> set.accept((String) v));
    }

    /** A checkbox whose value goes to {@code set} when the dialog is read. */
    public void checkbox(String key, boolean def, Consumer<Boolean> set) {
        if (gd != null) {
            gd.addCheckbox(key, def);
        }
        field(key, Kind.BOOLEAN, def, set == null ? null : v -> set.accept((Boolean) v));
    }

    /**
     * Adds the fields of {@code settings} marked {@link Option} whose keys are given, in that order, each bound to
     * its field (an int as a whole number, a double as a decimal with the option's digits, a boolean as a checkbox,
     * a String as text); the field's value is the default. A key no field has is a programming error.
     */
    public void settings(Object settings, String... keys) {
        for (String key : keys) {
            Field f = optionField(settings.getClass(), key);
            Class<?> type = f.getType();
            if (type == int.class) {
                integer(key, (Integer) get(f, settings), v -> set(f, settings, v));
            } else if (type == double.class) {
                int digits = f.getAnnotation(Option.class).digits();
                decimal(key, (Double) get(f, settings), digits, v -> set(f, settings, v));
            } else if (type == boolean.class) {
                checkbox(key, (Boolean) get(f, settings), v -> set(f, settings, v));
            } else if (type == String.class) {
                text(key, (String) get(f, settings), v -> set(f, settings, v));
            } else {
                throw new IllegalArgumentException(settings.getClass().getName() + "." + f.getName() + " is a " + type
                        + "; an @Option field is an int, double, boolean or String");
            }
        }
    }

    private static Field optionField(Class<?> type, String key) {
        for (Field f : type.getFields()) {
            Option o = f.getAnnotation(Option.class);
            if (o != null && o.key().equals(key)) {
                return f;
            }
        }
        throw new IllegalArgumentException(type.getName() + " has no public @Option(key = \"" + key + "\") field");
    }

    private static Object get(Field f, Object settings) {
        try {
            return f.get(settings);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void set(Field f, Object settings, Object value) {
        try {
            f.set(settings, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    public void addChoice(String key, String[] items, String def) {
        choice(key, items, def, null);
    }

    public void addNumber(String key, double def) {
        integer(key, def, null);
    }

    public void addDecimal(String key, double def, int digits) {
        decimal(key, def, digits, null);
    }

    public void addString(String key, String def) {
        text(key, def, null);
    }

    public void addFile(String key, String def) {
        file(key, def, null);
    }

    public void addCheckbox(String key, boolean def) {
        checkbox(key, def, null);
    }

    private void field(String key, Kind kind, Object def, Consumer<Object> set) {
        fields.add(new Entry(key, kind, def, set));
    }

    /**
     * Shows the dialog (or checks that headless options exist), then reads every field in order and
     * hands the bound ones their values; false when the user cancelled (nothing is read then).
     */
    public boolean show() {
        if (gd != null) {
            gd.showDialog();
            if (gd.wasCanceled()) {
                return false;
            }
        } else if (options == null) {
            throw new FluoreconException("Running headless: give the parameters as macro options, e.g. " + usage);
        }
        for (Entry f : fields) {
            Object v = read(f);
            values.put(f.key, v);
            if (f.set != null) {
                f.set.accept(v);
            }
        }
        return true;
    }

    public String nextChoice(String key) {
        return (String) value(key);
    }

    public String nextFile(String key) {
        return (String) value(key);
    }

    public String nextString(String key) {
        return (String) value(key);
    }

    public int nextInt(String key) {
        return (Integer) value(key);
    }

    public double nextDouble(String key) {
        return ((Number) value(key)).doubleValue();
    }

    public boolean nextBoolean(String key) {
        return (Boolean) value(key);
    }

    private Object value(String key) {
        if (!values.containsKey(key)) {
            throw new IllegalStateException("no field '" + key + "' was added and read");
        }
        return values.get(key);
    }

    private Object read(Entry f) {
        switch (f.kind) {
            case CHOICE:
                return gd != null ? gd.getNextChoice() : Macro.getValue(options, f.key, (String) f.def);
            case TEXT:
                return gd != null ? gd.getNextString() : Macro.getValue(options, f.key, (String) f.def);
            case BOOLEAN:
                if (gd != null) {
                    return gd.getNextBoolean();
                }
                // as GenericDialog in macro mode: a checkbox is on when its key appears as a word
                return (" " + options.trim() + " ").contains(" " + f.key + " ");
            case INT:
                return checkInt(f.key, number(f, "a whole number of pixels or threads", "a whole number"));
            default:
                return number(f, "a decimal number", "a decimal number, e.g. " + f.def);
        }
    }

    private double number(Entry f, String guiHint, String macroHint) {
        if (gd != null) {
            double v = gd.getNextNumber();
            if (gd.invalidNumber()) {
                throw new FluoreconException(f.key + " is not a number; give " + guiHint + ".");
            }
            return v;
        }
        String s = Macro.getValue(options, f.key, null);
        if (s == null) {
            return (Double) f.def;
        }
        try {
            return Double.parseDouble(s.trim());
        } catch (NumberFormatException e) {
            throw new FluoreconException(f.key + " = '" + s + "' is not a number; give " + macroHint + ".");
        }
    }

    private static int checkInt(String key, double v) {
        if (v != Math.rint(v) || Math.abs(v) > Integer.MAX_VALUE) {
            throw new FluoreconException(key + " = " + v + " is not a whole number.");
        }
        return (int) v;
    }
}
