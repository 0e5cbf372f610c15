// fluorecon demo: denoise the bundled noisy sample with the shipped CARE model.
// The run(...) line is what Plugins > Macros > Record... writes for Plugins > fluorecon > Denoise...
// Argument (from scripts/demo.py): "INPUT.tif|MODEL.onnx|OUTPUT.tif"
args = split(getArgument(), "|");
if (args.length != 3)
    exit("Usage: -batch denoise_sample.ijm \"INPUT.tif|MODEL.onnx|OUTPUT.tif\"");
open(args[0]);
run("Denoise...", "model_file=[" + args[1] + "] tile=256 threads=2 save=[" + args[2] + "]");
print("fluorecon demo: " + getTitle() + " written to " + args[2]);
