#!/usr/bin/env python3
"""Prediction throughput of the shipped 2D CARE model: torch, Python ONNX Runtime (whole image and
tiled), the Java plugin (tiled, through the JPype bridge in its own JVM), and csbdeep (TensorFlow
CPU, same U-Net depth/filters/kernel, untrained weights, in its own venv); plus the plugin JVM's
peak RSS on an 8192x8192 image. Not a test: `make bench` runs it and writes
bench/results/predict.json and predict.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fluorecon.core.modelcard import read_card

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
CSBDEEP_VENV = BENCH / "venvs" / "csbdeep"
sys.path.insert(0, str(ROOT / "tests" / "bridge"))

TARGETS = {"plugin_over_ort": 0.9, "plugin_over_csbdeep": 2.0, "peak_rss_gib_8192": 2.0}


# --- inputs --------------------------------------------------------------------------------------

def unet_architecture(model: Path) -> dict:
    """Depth, filters, kernel size, convs per level, residual and head of a fluorecon U-Net, read
    from its ONNX graph (so torch and csbdeep get the architecture of the file actually shipped)."""
    import onnx

    graph = onnx.load(str(model)).graph
    weights = {t.name: tuple(t.dims) for t in graph.initializer}
    convs = [weights[n.input[1]] for n in graph.node if n.op_type == "Conv" and n.input[1] in weights]
    depth = sum(n.op_type == "MaxPool" for n in graph.node)
    if not convs or depth == 0:
        raise SystemExit(f"{model} is not a fluorecon U-Net (no Conv/MaxPool nodes found)")
    per_level = (len(convs) - 1) // (2 * depth + 1)
    graph_input = graph.input[0].name
    residual = any(n.op_type == "Add" and graph_input in n.input for n in graph.node)
    first, head = convs[0], convs[-1]
    card = read_card(model)
    return {
        "ndim": 2, "depth": depth, "filters": first[0], "kernel_size": first[2], "convs_per_level": per_level,
        "channels_in": first[1], "channels_out": card.channels_out, "residual": residual,
        "probabilistic": head[0] == 2 * card.channels_out,
    }


def make_image(size: int, *, seed: int = 0) -> np.ndarray:
    """A seeded noisy fluorescence-like image (blurred spots and filaments, Poisson noise), float32."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size), np.float32)
    n = size * size // 400
    truth[rng.integers(0, size, n), rng.integers(0, size, n)] = rng.uniform(100, 1000, n)
    truth = gaussian_filter(truth, 1.5) * 15 + 5
    return (rng.poisson(truth) + 100).astype(np.float32)


def summary(seconds: list[float], pixels: int, **extra) -> dict:
    """MPix/s from the fastest run: on a shared machine other processes only ever add time."""
    best = min(seconds)
    return {"seconds": [round(s, 4) for s in seconds], "best_s": round(best, 4),
            "median_s": round(statistics.median(seconds), 4), "mpix_per_s": round(pixels / best / 1e6, 4), **extra}


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: session creation, allocator, JIT
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# --- the contenders ------------------------------------------------------------------------------

def bench_torch(image, arch, threads, repeats):
    import torch

    from fluorecon.core.normalize import normalize, percentile_range
    from fluorecon.nets.unet import UNet, UNetConfig

    torch.set_num_threads(threads)
    net = UNet(UNetConfig(**arch)).eval()

    def run():
        lo, hi = percentile_range(image, 1, 99.8)
        with torch.inference_mode():
            net(torch.from_numpy(normalize(image, lo, hi))[None, None])

    return summary(timed(run, repeats), image.size, weights="random (same architecture)")


def bench_ort(image, model, threads, tile, repeats):
    from fluorecon.infer import predict

    return summary(timed(lambda: predict(image, model, tile=tile, threads=threads, device="cpu"), repeats),
                   image.size, tile=tile)


def run_json(cmd: list[str], *, timeout: int, env=None) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1])


def bench_plugin(image_npy, imagej_dir, model, threads, tile, repeats):
    report = run_json([sys.executable, str(BENCH / "plugin_worker.py"), "--imagej", str(imagej_dir),
                       "--model", str(model), "--image", str(image_npy), "--threads", str(threads),
                       "--tile", str(tile), "--repeats", str(repeats)], timeout=1800)
    size = int(np.prod(np.load(image_npy, mmap_mode="r").shape))
    return summary(report["seconds"], size, tile=tile, timed="System.nanoTime around the plugin call, in the JVM",
                   provider=report.get("provider"))


def ensure_csbdeep_venv() -> Path:
    python = CSBDEEP_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {CSBDEEP_VENV} (csbdeep + tensorflow-cpu; a few minutes) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(CSBDEEP_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(BENCH / "requirements-csbdeep.txt")],
                       check=True)
    return python


def bench_csbdeep(image_npy, arch, threads, repeats):
    python = ensure_csbdeep_venv()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    report = run_json([str(python), str(BENCH / "csbdeep_worker.py"), "--image", str(image_npy),
                       "--arch", json.dumps(arch), "--threads", str(threads), "--repeats", str(repeats)],
                      timeout=3600, env=env)
    size = int(np.prod(np.load(image_npy, mmap_mode="r").shape))
    return summary(report["seconds"], size, versions=report["versions"], weights="untrained (same architecture)")


def peak_rss_plugin(imagej_dir: Path, model: Path, *, size: int, threads: int, tile: int) -> dict:
    """Peak RSS of a plain-JVM ImageJ (-batch macro under Xvfb) denoising a size x size 16-bit image."""
    from fluorecon.core.io import TiffMeta, write_tiff

    big = WORK / f"noisy_{size}.tif"
    if not big.exists():
        write_tiff(big, make_image(size, seed=1).astype(np.uint16), TiffMeta(axes="YX"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "big-denoised.tif"
        macro = Path(tmp) / "rss.ijm"
        macro.write_text(
            f'open("{big}");\nt0 = getTime();\n'
            f'run("Denoise...", "model_file=[{model}] tile={tile} threads={threads} save=[{out}]");\n'
            'print("elapsed_ms=" + (getTime() - t0));\n'
        )
        cp = ":".join([str(imagej_dir / "ij.jar"), *map(str, sorted((imagej_dir / "jars").glob("*.jar")))])
        java = ["java", f"-Dplugins.dir={imagej_dir}", "-cp", cp, "ij.ImageJ", "-ijpath", str(imagej_dir),
                "-batch", str(macro)]
        proc = subprocess.run(["xvfb-run", "-a", "/usr/bin/time", "-v", *java], capture_output=True, text=True,
                              timeout=3600)
        log = proc.stdout + proc.stderr
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
        elapsed = re.search(r"elapsed_ms=([\d.]+)", log)
        if proc.returncode != 0 or rss is None or not out.exists():
            raise RuntimeError(f"8192 run failed (exit {proc.returncode}):\n{log[-3000:]}")
    return {"peak_rss_gib": round(int(rss.group(1)) / 2**20, 3), "size": size, "jvm": "default heap (-Xmx unset)",
            "measured": "/usr/bin/time -v on the java process (ImageJ -batch macro, opens the 16-bit TIFF)",
            "elapsed_s": round(float(elapsed.group(1)) / 1000, 2) if elapsed else None}


# --- report --------------------------------------------------------------------------------------

def ratio(a: dict | None, b: dict | None):
    if not a or not b or "mpix_per_s" not in a or "mpix_per_s" not in b:
        return None
    return round(a["mpix_per_s"] / b["mpix_per_s"], 3)


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    import onnxruntime
    import torch

    return {"cpu": cpu, "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "java": java[0] if java else None, "onnxruntime_python": onnxruntime.__version__,
            "torch": torch.__version__}


def markdown(report: dict) -> str:
    r = report["results"]
    t, tl = report["tile"], report["tile_large"]
    names = {"torch": "torch (eager, whole image)", "ort_whole": "Python ORT, whole image",
             "ort_tiled": f"Python ORT, tile {t}", "ort_tiled_large": f"Python ORT, tile {tl}",
             "plugin_tiled": f"Java plugin, tile {t}", "plugin_tiled_large": f"Java plugin, tile {tl}",
             "csbdeep": "csbdeep (TensorFlow CPU), whole image"}
    lines = [
        f"# Predict benchmark — {report['image']['shape'][0]}x{report['image']['shape'][1]} float32, "
        f"{report['threads']} threads",
        "",
        f"Model `{report['model']['path']}` ({report['model']['architecture']}). "
        f"Machine: {report['machine']['cpu']}, {report['machine']['logical_cores']} logical cores. "
        f"Best of {report['repeats']} runs after a warm-up (load average {report['load_average']}). Generated by `make bench` ({report['date']}).",
        "",
        "| implementation | best s | median s | MPix/s (best) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in names.items():
        res = r.get(key) or {}
        if "mpix_per_s" in res:
            lines.append(f"| {label} | {res['best_s']:.3f} | {res['median_s']:.3f} | {res['mpix_per_s']:.3f} |")
        else:
            lines.append(f"| {label} | — | — | {res.get('error', 'not run')[:80]} |")
    lines += ["", f"Ratios use the plugin at tile {tl} (2x2 tiles); at the card's default tile {t}: "
              f"plugin/ORT whole = {report['ratios']['plugin_default_tile_over_ort']}, plugin/ORT at the same tile = "
              f"{report['ratios']['plugin_over_ort_same_tile']}.", "",
              "| figure | value | target | met |", "| --- | ---: | ---: | :---: |"]
    for key, target in TARGETS.items():
        value = report["ratios"].get(key) if key != "peak_rss_gib_8192" else report.get("peak_rss_gib_8192")
        ok = report["meets_targets"].get(key)
        op = "<" if key.startswith("peak") else ">="
        lines.append(f"| {key} | {value if value is not None else '—'} | {op} {target} | "
                     f"{'yes' if ok else ('no' if ok is False else '—')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=ROOT / "models" / "care_denoise_2d.onnx")
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tile", type=int, default=0, help="tile side for the tiled runs (default: the card's)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rss-size", type=int, default=8192, help="image side for the peak-RSS run (0 skips it)")
    p.add_argument("--skip", nargs="*", default=[], choices=["torch", "ort", "plugin", "csbdeep"])
    p.add_argument("--imagej", type=Path, default=ROOT / "imagej", help="ImageJ folder (made if missing)")
    p.add_argument("--plugin-jar", type=Path, default=ROOT / "java-plugin" / "target" / "fluorecon_.jar")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)

    WORK.mkdir(parents=True, exist_ok=True)
    model = args.model.resolve()
    arch = unet_architecture(model)
    image = make_image(args.size)
    image_npy = WORK / f"noisy_{args.size}.npy"
    np.save(image_npy, image)
    if "plugin" not in args.skip:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "install_imagej.py"), "--dest", str(args.imagej),
                        "--plugin-jar", str(args.plugin_jar), "--deps", str(args.plugin_jar.parent / "deps")], check=True)

    results: dict[str, dict] = {}
    load_start = [round(x, 2) for x in os.getloadavg()]

    def attempt(key, fn):
        print(f"[bench] {key} ...", flush=True)
        try:
            results[key] = fn()
            print(f"[bench] {key}: {results[key]['mpix_per_s']} MPix/s", flush=True)
        except Exception as err:  # one contender failing (e.g. TensorFlow will not install) must not hide the rest
            results[key] = {"error": f"{type(err).__name__}: {err}"[-2000:]}
            print(f"[bench] {key} failed: {results[key]['error']}", flush=True)

    card = read_card(model)
    halo = max(card.tile_halo)
    # A tile covering the image plus its halo is one tile (DESIGN.md tiling rule 3): whole-image inference.
    whole = args.size + 2 * halo
    # Tiled runs: the card's default tile, and a large tile whose core halves the image (2x2 tiles),
    # the setting a user picks when memory allows.
    tile_default = args.tile or max(card.tile_default)
    tile_large = args.size // 2 + 2 * halo
    if "torch" not in args.skip:
        attempt("torch", lambda: bench_torch(image, arch, args.threads, args.repeats))
    if "ort" not in args.skip:
        attempt("ort_whole", lambda: bench_ort(image, model, args.threads, whole, args.repeats))
        attempt("ort_tiled", lambda: bench_ort(image, model, args.threads, tile_default, args.repeats))
        attempt("ort_tiled_large", lambda: bench_ort(image, model, args.threads, tile_large, args.repeats))
    if "plugin" not in args.skip:
        attempt("plugin_tiled", lambda: bench_plugin(image_npy, args.imagej, model, args.threads, tile_default,
                                                     args.repeats))
        attempt("plugin_tiled_large", lambda: bench_plugin(image_npy, args.imagej, model, args.threads, tile_large,
                                                           args.repeats))
    if "csbdeep" not in args.skip:
        attempt("csbdeep", lambda: bench_csbdeep(image_npy, arch, args.threads, args.repeats))

    rss = None
    if args.rss_size and "plugin" not in args.skip:
        print(f"[bench] peak RSS at {args.rss_size}^2 ...", flush=True)
        try:
            rss = peak_rss_plugin(args.imagej, model, size=args.rss_size, threads=args.threads, tile=tile_default)
            print(f"[bench] peak RSS: {rss['peak_rss_gib']} GiB", flush=True)
        except Exception as err:
            rss = {"error": f"{type(err).__name__}: {err}"[-2000:]}
            print(f"[bench] peak RSS failed: {rss['error']}", flush=True)

    plugin = results.get("plugin_tiled_large")
    ratios = {
        "plugin_over_ort": ratio(plugin, results.get("ort_whole")),
        "plugin_over_csbdeep": ratio(plugin, results.get("csbdeep")),
        "plugin_default_tile_over_ort": ratio(results.get("plugin_tiled"), results.get("ort_whole")),
        "plugin_over_ort_same_tile": ratio(results.get("plugin_tiled"), results.get("ort_tiled")),
        "plugin_over_ort_same_large_tile": ratio(plugin, results.get("ort_tiled_large")),
        "plugin_over_torch": ratio(plugin, results.get("torch")),
    }
    peak = rss.get("peak_rss_gib") if rss else None
    meets = {
        "plugin_over_ort": None if ratios["plugin_over_ort"] is None else ratios["plugin_over_ort"] >= TARGETS["plugin_over_ort"],
        "plugin_over_csbdeep": None if ratios["plugin_over_csbdeep"] is None
        else ratios["plugin_over_csbdeep"] >= TARGETS["plugin_over_csbdeep"],
        "peak_rss_gib_8192": None if peak is None else peak < TARGETS["peak_rss_gib_8192"],
    }
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "machine": machine(),
        "model": {"path": str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model), "architecture": arch},
        "image": {"shape": list(image.shape), "dtype": "float32"},
        "threads": args.threads, "tile": tile_default, "tile_large": tile_large, "tile_whole": whole,
        "repeats": args.repeats,
        "results": results, "rss": rss,
        "ratios": ratios, "peak_rss_gib_8192": peak, "targets": TARGETS, "meets_targets": meets,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "predict.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "predict.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
