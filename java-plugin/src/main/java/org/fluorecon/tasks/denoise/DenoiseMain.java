package org.fluorecon.tasks.denoise;

import ij.IJ;
import ij.ImagePlus;
import java.nio.file.Path;
import java.util.Locale;
import org.fluorecon.core.ImageToImageJob;
import org.fluorecon.core.Progress;
import org.fluorecon.core.TiffFiles;
import org.fluorecon.onnx.Predictor;

/**
 * Command-line runner without any ImageJ GUI, for benchmarks and batch scripts:
 * {@code java -cp fluorecon_.jar:ij.jar:onnxruntime.jar org.fluorecon.tasks.denoise.DenoiseMain MODEL IN.tif OUT.tif [TILE [THREADS [gpu]]]}.
 * Prints one JSON line with the timings and the provider that ran; {@code -Dfluorecon.repeat=N}
 * predicts N times and reports the last (warm) run.
 */
public final class DenoiseMain {
    private DenoiseMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: DenoiseMain MODEL.onnx IN.tif OUT.tif [TILE [THREADS [gpu]]]");
            System.exit(2);
        }
        int tile = args.length > 3 ? Integer.parseInt(args[3]) : 0;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : 0;
        boolean gpu = args.length > 5 && args[5].equalsIgnoreCase("gpu");
        long t0 = System.nanoTime();
        ImagePlus imp = IJ.openImage(args[1]);
        if (imp == null) {
            System.err.println("Cannot open " + args[1]);
            System.exit(1);
        }
        long t1 = System.nanoTime();
        ImageToImageJob job = new ImageToImageJob(imp, Path.of(args[0]), tile, threads, gpu, Predictor::open);
        if (!job.checkInput()) {
            System.err.println(job.getErrorMessage());
            System.exit(1);
        }
        int repeat = Integer.getInteger("fluorecon.repeat", 1);
        long loaded = System.nanoTime();
        long t2 = 0;
        long t3 = 0;
        double first = 0;
        for (int r = 0; r < repeat; r++) { // repeats time a warm (cached) session as in a second run
            t2 = System.nanoTime();
            if (!job.process(Progress.NONE)) {
                System.err.println(job.getErrorMessage());
                System.exit(1);
            }
            t3 = System.nanoTime();
            if (r == 0) {
                first = (t3 - t2) / 1e9;
            }
        }
        TiffFiles.saveAtomic(job.getResult(), Path.of(args[2]));
        long t4 = System.nanoTime();
        System.out.println(String.format(Locale.ROOT,
                "{\"read_s\": %.4f, \"load_s\": %.4f, \"first_predict_s\": %.4f, \"predict_s\": %.4f, "
                        + "\"write_s\": %.4f, \"tiles\": %d, "
                        + "\"tile\": \"%s\", \"provider\": \"%s\"}",
                (t1 - t0) / 1e9, (loaded - t1) / 1e9, first, (t3 - t2) / 1e9, (t4 - t3) / 1e9,
                job.getPlan().numTiles(), org.fluorecon.core.ModelCard.join(job.getPlan().tile),
                job.getModel().provider()));
        Predictor.clearCache();
    }
}
