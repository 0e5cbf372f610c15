package org.fluorecon.ij;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A job setting that a command's dialog offers: its macro key (the GenericDialog label) and, for a decimal, the
 * digits shown. The field beside it holds the default (from the job's spec) and receives the value, so a setting is
 * declared once: {@code @Option(key = "na", digits = 2) public double na = SPEC.number("optics.na");}, and a
 * command adds such fields with {@link Params#settings(Object, String...)}.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.FIELD)
public @interface Option {
    /** The macro key and dialog label, e.g. {@code "z_step"}. */
    String key();

    /** Decimal places shown for a {@code double} field. */
    int digits() default 2;
}
