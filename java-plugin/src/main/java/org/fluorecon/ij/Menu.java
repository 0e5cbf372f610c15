package org.fluorecon.ij;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Where a command stands in ImageJ's menus. The build writes {@code plugins.config} from these
 * ({@link PluginsConfig}, Maven's {@code process-classes} phase), so adding a command is one
 * annotated class: {@code @Menu(label = "Denoise...")} puts it under Plugins › fluorecon.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface Menu {
    /** The menu, e.g. {@code Plugins>fluorecon>Denoise}. */
    String path() default PluginsConfig.MENU;

    /** The item, which is also the macro command name, e.g. {@code "Denoise..."}. */
    String label();
}
