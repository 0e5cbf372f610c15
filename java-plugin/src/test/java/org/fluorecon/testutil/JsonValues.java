package org.fluorecon.testutil;

import java.util.List;
import java.util.Map;

/** Casts of parsed JSON values ({@link org.fluorecon.server.Json}) for the tests that read vectors. */
public final class JsonValues {
    private JsonValues() {
    }

    /** {@code o} as a JSON object (a parsed Map). */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> obj(Object o) {
        return (Map<String, Object>) o;
    }

    /** {@code o} as a JSON array (a parsed List). */
    @SuppressWarnings("unchecked")
    public static List<Object> arr(Object o) {
        return (List<Object>) o;
    }

    /** A JSON array of numbers as ints. */
    public static int[] ints(Object o) {
        return arr(o).stream().mapToInt(v -> ((Number) v).intValue()).toArray();
    }

    /** A JSON array of numbers as floats. */
    public static float[] floats(Object o) {
        List<Object> l = arr(o);
        float[] out = new float[l.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = ((Number) l.get(k)).floatValue();
        }
        return out;
    }
}
