package org.fluorecon.tasks.upsample;

import org.fluorecon.tasks.denoise.Denoise_;

/**
 * Plugins › fluorecon › Super-resolve…  Runs an upsampling model (card {@code task = upsample}) locally:
 * the output is {@code scale}× larger per axis and its pixel size is divided by {@code scale}.
 * Macro: {@code run("Super-resolve...", "model=NAME tile=0 threads=0")} or
 * {@code model=[file] model_file=/path/care_upsample2x_2d.onnx}; {@code save=/path/out.tif} also writes the result.
 */
public class SuperResolve_ extends Denoise_ {
    public SuperResolve_() {
        // The library is not indexed by task; an upsampling model's name usually says so.
        super("Super-resolve", "upsample", "-superres", "upsampling models (task=upsample)",
                name -> name.contains("upsample") || name.contains("superres"));
    }
}
