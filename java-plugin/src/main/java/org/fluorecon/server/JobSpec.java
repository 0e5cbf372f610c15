package org.fluorecon.server;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.fluorecon.core.FluoreconException;

/**
 * A server job's spec as the Python side declares it: the JSON Schema of its pydantic model, written to
 * {@code org/fluorecon/specs/<job>.json} by {@code scripts/make_spec_resources.py}. The jobs' Settings take their
 * defaults from here and their checks take the bounds, so neither is a hand copy of the Python spec.
 * Fields are named by their path in the spec, e.g. {@code num_iter} or {@code psf.na} (a nested model).
 */
public final class JobSpec {
    private static final Map<String, JobSpec> CACHE = new ConcurrentHashMap<>();

    private final String job;
    private final Map<String, Object> schema;

    private JobSpec(String job, Map<String, Object> schema) {
        this.job = job;
        this.schema = schema;
    }

    /** The spec of job task {@code job} (e.g. {@code deconvolve}), read once from the plugin's resources. */
    public static JobSpec of(String job) {
        return CACHE.computeIfAbsent(job, JobSpec::load);
    }

    private static JobSpec load(String job) {
        String resource = "/org/fluorecon/specs/" + job + ".json";
        try (InputStream in = JobSpec.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("the plugin jar lacks " + resource);
            }
            return new JobSpec(job, Json.parseObject(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + resource + ": " + e.getMessage(), e);
        }
    }

    /** The schema of field {@code path}; an IllegalArgumentException when the spec has no such field. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> field(String path) {
        Map<String, Object> model = schema;
        Map<String, Object> field = null;
        for (String name : path.split("\\.")) {
            if (field != null) {
                model = model(field);
            }
            Map<String, Object> props = (Map<String, Object>) model.get("properties");
            field = props == null ? null : (Map<String, Object>) props.get(name);
            if (field == null) {
                throw new IllegalArgumentException("the " + job + " spec has no field " + path);
            }
        }
        return field;
    }

    /** The nested model a field refers to ({@code $ref}, alone or in an {@code anyOf} with null). */
    @SuppressWarnings("unchecked")
    private Map<String, Object> model(Map<String, Object> field) {
        Object ref = field.get("$ref");
        if (ref == null && field.get("anyOf") instanceof List) {
            for (Object option : (List<Object>) field.get("anyOf")) {
                ref = ref != null ? ref : ((Map<String, Object>) option).get("$ref");
            }
        }
        if (ref == null) {
            return field;
        }
        String name = ref.toString().substring(ref.toString().lastIndexOf('/') + 1);
        return (Map<String, Object>) ((Map<String, Object>) schema.get("$defs")).get(name);
    }

    /** The field's default, or its first example where it has none (a required field); null when neither. */
    public Object defaultValue(String path) {
        Map<String, Object> f = field(path);
        if (f.containsKey("default")) {
            return f.get("default");
        }
        Object examples = f.get("examples");
        return examples instanceof List && !((List<?>) examples).isEmpty() ? ((List<?>) examples).get(0) : null;
    }

    public double number(String path) {
        return ((Number) require(path)).doubleValue();
    }

    public int integer(String path) {
        return ((Number) require(path)).intValue();
    }

    public String string(String path) {
        return (String) require(path);
    }

    public boolean bool(String path) {
        return (Boolean) require(path);
    }

    private Object require(String path) {
        Object v = defaultValue(path);
        if (v == null) {
            throw new IllegalArgumentException("the " + job + " spec gives " + path + " no default");
        }
        return v;
    }

    /** The values the field's {@code enum} allows, in the spec's order, as text. */
    public List<String> choices(String path) {
        Object values = field(path).get("enum");
        if (!(values instanceof List)) {
            throw new IllegalArgumentException("the " + job + " spec's " + path + " is not a choice");
        }
        return ((List<?>) values).stream().map(String::valueOf).collect(Collectors.toUnmodifiableList());
    }

    /** The field's {@code minimum} (or {@code exclusiveMinimum}); NaN when unbounded. */
    public double min(String path) {
        return bound(field(path), "minimum", "exclusiveMinimum");
    }

    /** The field's {@code maximum} (or {@code exclusiveMaximum}); NaN when unbounded. */
    public double max(String path) {
        return bound(field(path), "maximum", "exclusiveMaximum");
    }

    private static double bound(Map<String, Object> f, String inclusive, String exclusive) {
        Object v = f.containsKey(inclusive) ? f.get(inclusive) : f.get(exclusive);
        return v instanceof Number ? ((Number) v).doubleValue() : Double.NaN;
    }

    /**
     * Checks a whole number against the field's inclusive bounds: {@code name = v is out of range; use lo to
     * hi<hint>.} (hint e.g. {@code " (1000 is a good start)"}, or empty).
     */
    public void checkRange(String path, String name, long value, String hint) {
        long lo = (long) min(path);
        long hi = (long) max(path);
        if (value < lo || value > hi) {
            throw new FluoreconException(name + " = " + value + " is out of range; use " + lo + " to " + hi + hint
                    + ".");
        }
    }
}
