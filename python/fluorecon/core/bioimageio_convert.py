"""Converts a bioimage.io package's PyTorch weights (pytorch_state_dict or torchscript) to ONNX.

A standalone script, run as ``PYTHON bioimageio_convert.py ...`` by ``fluorecon bioimageio import``:
a pytorch_state_dict's architecture is code in some library (CAREamics' UNet lives in `careamics`),
so this one step runs in a Python where that library is installed (``--python``), which need not
have fluorecon. It imports nothing from fluorecon: torch, numpy and the architecture only.

Output: an ONNX graph in the package's own input/output axis order (the import then wraps it into
fluorecon's layout) and one JSON line on stdout with the versions and the largest difference
between torch's and ONNX Runtime's output on the package's test input (when onnxruntime is there).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path

# Run as a script, its own folder (fluorecon/core, which holds bioimageio.py) would come first on the path and
# shadow the `bioimageio` package that the architecture's library (CAREamics) imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def build_module(package_dir: Path, kind: str, entry: dict):
    """The torch module of the weights entry `entry` (rdf ``weights[kind]``), in eval mode on the CPU."""
    import torch

    weights = package_dir / entry["source"]
    if kind == "torchscript":
        return torch.jit.load(str(weights), map_location="cpu").eval()
    arch = entry["architecture"]
    if arch.get("import_from"):
        factory = getattr(importlib.import_module(arch["import_from"]), arch["callable"])
    else:  # architecture code shipped in the package: a .py file
        spec = importlib.util.spec_from_file_location("bioimageio_architecture", package_dir / arch["source"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        factory = getattr(module, arch["callable"])
    net = factory(**(arch.get("kwargs") or {}))
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--package-dir", required=True, type=Path, help="the unpacked package")
    p.add_argument("--kind", required=True, choices=["pytorch_state_dict", "torchscript"])
    p.add_argument("--entry", required=True, help="JSON of rdf weights[kind]")
    p.add_argument("--test-input", required=True, type=Path, help=".npy in the package's input axis order")
    p.add_argument("--dynamic", required=True, help="comma-separated indices of the axes whose size may vary")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    net = build_module(args.package_dir, args.kind, json.loads(args.entry))
    x = torch.from_numpy(np.load(args.test_input).astype(np.float32))
    dynamic = {int(i): f"d{i}" for i in args.dynamic.split(",") if i}
    with torch.no_grad():
        want = net(x)
        # the TorchScript-based exporter: it needs no onnxscript and handles ScriptModules
        torch.onnx.export(net, (x,), str(args.out), input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": dynamic, "output": dynamic}, opset_version=args.opset, dynamo=False)
    report = {"torch": torch.__version__, "python": sys.version.split()[0], "opset": args.opset}
    try:
        import onnxruntime as ort
    except ImportError:
        report["max_abs_diff_torch_onnx"] = None
    else:
        sess = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"input": x.numpy()})[0]
        report["max_abs_diff_torch_onnx"] = float(np.abs(got - want.numpy()).max())
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
