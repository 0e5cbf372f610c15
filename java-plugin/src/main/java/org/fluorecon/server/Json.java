package org.fluorecon.server;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import com.google.gson.Strictness;
import com.google.gson.ToNumberPolicy;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The JSON the server speaks, through Gson. The plugin jar carries Gson shaded under
 * {@code org.fluorecon.shaded.gson}, so Fiji's own (older or newer) Gson never meets ours.
 * Parsed values are plain Java: Map (insertion order), List, String, Long or Double, Boolean, null.
 */
public final class Json {
    private static final Gson GSON = new GsonBuilder()
            .disableHtmlEscaping()
            .serializeNulls()
            .setStrictness(Strictness.STRICT)
            .setObjectToNumberStrategy(ToNumberPolicy.LONG_OR_DOUBLE)
            .create();

    private Json() {
    }

    /** Parses a JSON text; an IllegalArgumentException when it is not valid JSON. */
    public static Object parse(String text) {
        try {
            return GSON.fromJson(text, Object.class);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("not valid JSON: " + e.getMessage(), e);
        }
    }

    /** The object in {@code text}; an IllegalArgumentException when it is not one. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String text) {
        Object v = parse(text);
        if (!(v instanceof Map)) {
            throw new IllegalArgumentException("expected a JSON object");
        }
        return (Map<String, Object>) v;
    }

    /**
     * An object in insertion order from alternating keys and values (values may be null), e.g. a
     * job's spec: {@code Json.object("task", "fuse", "num_iter", 20)}.
     */
    public static Map<String, Object> object(Object... keysAndValues) {
        if (keysAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("keys and values must come in pairs");
        }
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    /** Maps, lists, strings, numbers, booleans and null as compact JSON; NaN and infinities are refused. */
    public static String write(Object v) {
        return GSON.toJson(v);
    }
}
