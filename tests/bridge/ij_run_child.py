"""Child process for test_macro_xvfb: ``IJ.run(imp, "Denoise...", options)`` in a JVM that is NOT
headless (run it under ``xvfb-run``), the path a user's macro or script takes in Fiji.

Usage: python ij_run_child.py IMAGEJ_DIR INPUT.tif OPTIONS   (prints one JSON line, exits with os._exit)
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import ijbridge  # noqa: E402


def main() -> int:
    imagej_dir, input_tif, options = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    ijbridge.start_jvm(ijbridge.plugin_classpath(imagej_dir), headless=False,
                       extra=(f"-Dplugins.dir={imagej_dir}", f"-Dij.dir={imagej_dir}"))
    from jpype import JClass

    IJ = JClass("ij.IJ")
    JClass("ij.macro.Interpreter").batchMode = True  # outputs stay off-screen
    imp = IJ.openImage(input_tif)
    # No `new ImageJ()`: it hung under Xvfb (DESIGN.md); IJ.run builds the command table itself.
    IJ.run(imp, "Denoise...", options)
    out = JClass("ij.WindowManager").getCurrentImage()
    print(json.dumps({"title": None if out is None else str(out.getTitle())}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except BaseException as err:  # report, then leave without a JVM shutdown that can hang on AWT
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)
        code = 1
    ijbridge.hard_exit(code)
