#!/usr/bin/env python3
"""Prediction throughput of the shipped 2D CARE model on bench/harness.py: Python ONNX Runtime (whole
image, and tiled with the plugin's own tile plan), the Java plugin (in its own JVM through the JPype
bridge, kept alive across rounds), csbdeep (TensorFlow CPU, same U-Net depth/filters/kernel, untrained
weights, in its own venv) and torch, interleaved over rounds at equal threads, at 512², 2048² and
8192²; plus the peak RSS of the plugin's JVM and of Python ORT on an 8192x8192 image.

At sizes above 4096² (`LARGE`): the whole-image contenders (ORT in one tile, torch) are left out (one 8192² tile
of this U-Net needs tens of GiB of activations), every contender is warmed up on the 2048² image (same tile size,
so the same sessions and buffers; a full 8192² warm-up costs minutes per contender) unless the plugin runs, whose
equal-work check already runs the plugin and Python ORT once at that size, untimed; and `--rounds-large` rounds
are run (default 3: one 8192² run takes minutes on the shared 2 cores). Rows of sizes not rerun are kept from
the stored json with the date and load of their own run (`run`). Not a test: `make bench` runs it and
writes bench/results/predict.json and predict.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from fluorecon.core.modelcard import read_card
from harness import (DEFAULT_ROUNDS, RESULTS, Bench, Contender, PeerSanityError, PeerWorker, check_peer_output, figure,
                     interleave, ratio)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
CSBDEEP_VENV = BENCH / "venvs" / "csbdeep"
sys.path.insert(0, str(ROOT / "tests" / "bridge"))

TARGETS = {"plugin_over_ort": 0.9, "plugin_over_csbdeep": 2.0, "peak_rss_gib_8192": 2.0}
LARGE = 4096  # above this side: no whole-image contenders, warm-up on WARMUP_SIZE², --rounds-large rounds
WARMUP_SIZE = 2048


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


def balanced_tile(size: int, tile: int, halo: int, multiple: int) -> int:
    """The tile the plugin actually uses for a requested one (Java ``Tiling.balancedTile``: the same
    number of tiles, cores spread evenly, least padding). Python's ``predict`` takes the tile it is
    given, so the bench hands it this one: both sides then compute the same tile plan (equal work)."""
    up = lambda v: -(-v // multiple) * multiple  # noqa: E731
    h, t = up(halo), up(tile)
    t = max(t, 2 * h + multiple)
    c, whole = t - 2 * h, up(size)
    if c >= whole:
        return whole + 2 * h
    n = -(-size // c)
    return up(-(-size // n)) + 2 * h


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


def peak_rss_ort(model: Path, *, size: int, threads: int, tile: int) -> dict:
    """Peak RSS of a Python process predicting a size x size image with ONNX Runtime at the plugin's tile plan
    (the image made in the process, as the plugin's macro opens its TIFF)."""
    code = (f"import sys; sys.path.insert(0, {str(BENCH)!r}); import time; from predict import make_image; "
            "from fluorecon.infer import predict; "
            f"im = make_image({size}, seed=1); t0 = time.perf_counter(); "
            f"predict(im, {str(model)!r}, tile={tile}, threads={threads}, device='cpu'); "
            "print('elapsed_s=%.2f' % (time.perf_counter() - t0))")
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=3600)
    log = proc.stdout + proc.stderr
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
    elapsed = re.search(r"elapsed_s=([\d.]+)", log)
    if proc.returncode != 0 or rss is None:
        raise RuntimeError(f"Python ORT {size}² run failed (exit {proc.returncode}):\n{log[-3000:]}")
    return {"peak_rss_gib": round(int(rss.group(1)) / 2**20, 3), "size": size, "tile": tile,
            "measured": "/usr/bin/time -v on the python process (fluorecon.infer.predict, float32 image made in it)",
            "elapsed_s": float(elapsed.group(1)) if elapsed else None}


def peak_rss_so_far(plugin: PeerWorker | None) -> dict:
    """High-water marks of resident memory so far: the plugin worker (JVM through JPype, `--max-heap` 6g, with its
    Python side) and this bench process (Python ORT plus the bench's own copies of images and outputs, so an upper
    bound for ORT)."""
    import resource

    out = {"bench_process_python_ort_upper_bound": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
           "measured": "VmHWM of the plugin worker process, ru_maxrss of the bench process (peaks over their lives)"}
    if plugin is not None:
        status = Path(f"/proc/{plugin.proc.pid}/status").read_text()
        out["plugin_worker"] = round(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 2**20, 3)
    return out


def stored_rows(name: str, sizes: list[int]) -> tuple[list[dict], dict, dict | None]:
    """Rows (with their figures) of sizes not rerun now, from the stored json; each keeps its own run's date
    and load under ``run``. Returns (rows, figures, stored rss)."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return [], {}, None
    old = json.loads(path.read_text())
    rows = []
    for row in old.get("sizes", []):
        if row["size"] in sizes:
            continue
        row.setdefault("run", {k: old[k] for k in ("date", "command", "load_start", "load_end") if k in old})
        rows.append(row)
    kept = {str(r["size"]) for r in rows}
    figures = {k: v for k, v in old.get("figures", {}).items() if k.rsplit("_", 1)[-1] in kept}
    return rows, figures, old.get("rss")


# --- report --------------------------------------------------------------------------------------

def machine_tools() -> dict:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    import onnxruntime
    import torch

    return {"java": java[0] if java else None, "onnxruntime_python": onnxruntime.__version__, "torch": torch.__version__}


LABELS = {"ort_whole": "Python ORT, whole image", "ort_tiled": "Python ORT, plugin's tile plan",
          "ort_checked": "Python ORT, plugin's tile plan, after the input's OOD check (the plugin's work)",
          "plugin_tiled": "Java plugin, card's default tile", "csbdeep": "csbdeep (TensorFlow CPU), whole image",
          "torch": "torch (eager, whole image, random weights)"}


def markdown(report: dict) -> str:
    lines = [f"# Predict benchmark — shipped 2D CARE model, float32, {report['config']['threads']} threads each", "",
             f"Model `{report['model']['path']}` ({report['model']['architecture']}). MPix/s = pixels / median of the "
             f"whole-image seconds over {report['config']['rounds']} interleaved rounds (warm-up left out); the plugin's "
             "time is taken in its JVM around the plugin call; ratios are per round (same round, same threads).", ""]
    for row in report["sizes"]:
        med = row["timings"]["median_per_unit_s"]
        size = row["size"]
        run = row.get("run", {})
        when = (f"Run {run['date']}, load {run['load_start']['load_avg'][0]:.1f}→{run['load_end']['load_avg'][0]:.1f}; "
                if run else "")
        lines += [f"## {size}×{size}", "",
                  f"{when}{row['timings']['rounds']} interleaved rounds; warm-up: {row.get('warmup', 'one run of each contender at this size')} (not timed)."
                  + "".join(f" {LABELS.get(k, k)}: {why}." for k, why in row.get("not_run", {}).items()), "",
                  f"Tile plan (both sides): card default {row['tile_default']} → {row['tile_plan']['count']} tiles of "
                  f"{row['tile_plan']['tile']} px ({row['tile_plan']['mpix']:.2f} MPix computed); whole image = one tile of "
                  f"{row['tile_whole']}. Plugin output vs Python ORT at that plan: max difference "
                  f"{row['plugin_vs_ort_max_rel']:.1e} of the range.", "",
                  "| implementation | median s | MPix/s |", "| --- | ---: | ---: |"]
        for key, label in LABELS.items():
            if key in med:
                lines.append(f"| {label} | {med[key]:.3f} | {size * size / med[key] / 1e6:.3f} |")
        lines.append("")
        if "peak_rss_gib" in row:
            m = row["peak_rss_gib"]
            lines += [f"Peak resident memory over the whole {size}² run: plugin worker (JVM, 6 GiB max heap, with its "
                      f"JPype/Python side) {m.get('plugin_worker', '—')} GiB; bench process (Python ORT plus the bench's "
                      f"own image copies: an upper bound) {m['bench_process_python_ort_upper_bound']} GiB.", ""]
        if "plugin_vs_ort_checked_at" in row:
            lines += [f"The plugin-vs-ORT output check ran on the {row['plugin_vs_ort_checked_at']}² warm-up image "
                      "(same tile size).", ""]
        for key, r in row["ratios"].items():
            lines.append(f"- `{key}`: {r['median']:.2f} (min–max {r['min']:.2f}–{r['max']:.2f}), verdict {r['verdict'] or '—'}")
        lines.append("")
    rss = report.get("rss")
    if rss and "peak_rss_gib" in rss:
        lines += [f"Peak RSS, plain ImageJ (`-batch`, default heap) denoising a {rss['size']}² 16-bit TIFF at the default "
                  f"tile: {rss['peak_rss_gib']:.2f} GiB ({rss['elapsed_s']} s, one run).", ""]
    ort = (rss or {}).get("python_ort")
    if ort and "peak_rss_gib" in ort:
        lines += [f"Peak RSS, Python ONNX Runtime (`fluorecon.infer.predict`) on a {ort['size']}² float32 image at the "
                  f"plugin's tile plan (tile {ort['tile']}): {ort['peak_rss_gib']:.2f} GiB ({ort['elapsed_s']} s, one run).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=ROOT / "models" / "care_denoise_2d.onnx")
    p.add_argument("--sizes", type=int, nargs="*", default=[512, 2048, 8192],
                   help="image sides (none: only the peak-RSS run; every stored row kept)")
    p.add_argument("--threads", type=int, default=2, help="threads for every contender")
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    p.add_argument("--rounds-large", type=int, default=3, help=f"rounds at sizes above {LARGE}² (minutes per run)")
    p.add_argument("--why-skipped", default="skipped (--skip)", help="reason recorded for each --skip contender")
    p.add_argument("--rss-size", type=int, default=8192, help="image side for the peak-RSS run (0 skips it)")
    p.add_argument("--skip", nargs="*", default=[], choices=["torch", "ort", "plugin", "csbdeep"])
    p.add_argument("--imagej", type=Path, default=ROOT / "imagej", help="ImageJ folder (made if missing)")
    p.add_argument("--plugin-jar", type=Path, default=ROOT / "java-plugin" / "target" / "fluorecon_.jar")
    p.add_argument("--name", default="predict")
    args = p.parse_args(argv)

    WORK.mkdir(parents=True, exist_ok=True)
    model = args.model.resolve()
    arch = unet_architecture(model)
    card = read_card(model)
    halo, multiple = max(card.tile_halo), max(card.tile_multiple)
    tile_default = max(card.tile_default)
    if "plugin" not in args.skip:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "install_imagej.py"), "--dest", str(args.imagej),
                        "--plugin-jar", str(args.plugin_jar), "--deps", str(args.plugin_jar.parent / "deps")], check=True)
    bench = Bench(args.name, {"sizes": args.sizes, "threads": args.threads, "rounds": args.rounds,
                              "rounds_large": args.rounds_large, "skip": args.skip,
                              "rss_size": args.rss_size, "model": str(model.relative_to(ROOT))})
    kept_rows, kept_figures, stored_rss = stored_rows(args.name, args.sizes)
    bench.data["machine"].update(machine_tools())
    from fluorecon.core.tiling import plan_tiles
    from fluorecon.infer import predict
    from fluorecon.qc.ood import check_input

    plugin = csbdeep = None
    if "plugin" not in args.skip and args.sizes:
        plugin = PeerWorker([sys.executable, BENCH / "plugin_worker.py", "--imagej", args.imagej, "--model", model],
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")])})
    if "csbdeep" not in args.skip and args.sizes:
        csbdeep = PeerWorker([ensure_csbdeep_venv(), BENCH / "csbdeep_worker.py", "--arch", json.dumps(arch),
                              "--threads", args.threads],
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
    rows = []
    try:
        for size in args.sizes:
            large = size > LARGE
            image = make_image(size)
            image_npy = WORK / f"noisy_{size}.npy"
            np.save(image_npy, image)
            whole = size + 2 * halo  # a tile covering the image plus its halo: one tile (DESIGN.md tiling rule 3)
            tile = balanced_tile(size, tile_default, halo, multiple)
            plan = plan_tiles(image.shape, tile=tile, halo=card.tile_halo, multiple=card.tile_multiple)
            contenders = []
            if "ort" not in args.skip:
                contenders += [
                    Contender("ort_tiled", lambda _, t=tile, im=image: predict(im, model, tile=t, threads=args.threads, device="cpu"),
                              threads=args.threads),
                    Contender("ort_whole", lambda _, t=whole, im=image: predict(im, model, tile=t, threads=args.threads, device="cpu"),
                              threads=args.threads)][:1 if large else 2]
                if "plugin" not in args.skip:  # the plugin's work: the input's OOD check, then the prediction
                    contenders.append(Contender("ort_checked", lambda _, t=tile, im=image: (
                        check_input(im, card.qc, norm=card.norm), predict(im, model, tile=t, threads=args.threads,
                                                                          device="cpu"))[1], threads=args.threads))
            row = {"size": size, "tile_default": tile_default, "tile_whole": whole, "tile_plan": {
                "tile": list(plan.tile), "count": list(plan.count), "mpix": plan.num_tiles * int(np.prod(plan.tile)) / 1e6},
                "not_run": {k: f"not run: {args.why_skipped}" for k in ("ort_whole", "ort_tiled", "plugin_tiled", "csbdeep", "torch")
                            if {"ort_whole": "ort", "ort_tiled": "ort", "plugin_tiled": "plugin"}.get(k, k) in args.skip}}
            if large:
                row["not_run"].update({k: f"not run: one whole {size}² tile needs tens of GiB of activations"
                                       for k in ("ort_whole", "torch")})
            check_npy, check_image, check_tile = image_npy, image, tile
            if large:  # checked (and warmed up) at WARMUP_SIZE²: the same tile size, minutes cheaper than size²
                check_npy = WORK / f"noisy_{WARMUP_SIZE}.npy"
                check_image = make_image(WARMUP_SIZE)
                np.save(check_npy, check_image)
                check_tile = balanced_tile(WARMUP_SIZE, tile_default, halo, multiple)
                row["plugin_vs_ort_checked_at"] = WARMUP_SIZE
            if plugin is not None:
                request = {"image": str(image_npy), "tile": tile_default, "threads": args.threads}
                # Equal work, checked: the plugin's output at its default tile equals Python's at the balanced tile.
                plugin.call({"image": str(check_npy), "tile": tile_default, "threads": args.threads,
                             "save": str(WORK / "plugin_out.npy")})
                ours = predict(check_image, model, tile=check_tile, threads=args.threads, device="cpu")
                theirs = np.load(WORK / "plugin_out.npy")
                check_peer_output("Java plugin", theirs, reference=ours, shape=ours.shape)
                row["plugin_vs_ort_max_rel"] = float(np.max(np.abs(theirs - ours)) / np.ptp(ours))
                if row["plugin_vs_ort_max_rel"] > 1e-3:
                    raise PeerSanityError(f"plugin and Python ORT outputs differ by {row['plugin_vs_ort_max_rel']:.1e} of the "
                                          f"range at {size}²: not the same work")
                contenders.append(Contender("plugin_tiled", lambda _, r=request: plugin.call(r), threads=args.threads,
                                            timed=lambda reply: reply["seconds"]))
            if csbdeep is not None:
                def run_csbdeep(_, path=str(image_npy), shape=image.shape):
                    reply = csbdeep.call({"image": path})
                    if tuple(reply["shape"]) != shape or not reply["finite"]:
                        raise PeerSanityError(f"csbdeep: output shape {reply['shape']} (finite {reply['finite']}) for input {shape}")
                    row["csbdeep_versions"] = reply["versions"]
                    return reply
                contenders.append(Contender("csbdeep", run_csbdeep, threads=args.threads, timed=lambda reply: reply["seconds"]))
            if "torch" not in args.skip and not large:  # eager torch at 8192² needs > 20 GiB of activations
                contenders.append(Contender("torch", torch_runner(image, arch, args.threads), threads=args.threads))
            print(f"[bench] {size}x{size}: {', '.join(c.name for c in contenders)}", flush=True)
            if large:
                for c in contenders:  # the same sessions and tile buffers as at size²; the plugin's check warmed it
                    {"ort_tiled": lambda: predict(check_image, model, tile=check_tile, threads=args.threads, device="cpu"),
                     "ort_checked": lambda: (check_input(check_image, card.qc, norm=card.norm),
                                             predict(check_image, model, tile=check_tile, threads=args.threads, device="cpu")),
                     "plugin_tiled": lambda: None,
                     "csbdeep": lambda: csbdeep.call({"image": str(check_npy)})}[c.name]()
                row["warmup"] = (f"one {WARMUP_SIZE}² run of each contender (same tile size; the plugin's is its "
                                 "equal-work check)")
            timings = interleave(contenders, work=1, rounds=args.rounds_large if large else args.rounds, unit="image",
                                 warmup_work=0 if large else None)
            row["timings"] = timings.to_json()
            if large:
                row["peak_rss_gib"] = peak_rss_so_far(plugin)
            row["ratios"] = {}
            names = timings.per_unit_s
            for key, a, b, target in (
                    ("plugin_over_ort_checked_same_plan", "plugin_tiled", "ort_checked", TARGETS["plugin_over_ort"]),
                    ("plugin_over_ort_same_plan", "plugin_tiled", "ort_tiled", None),
                    ("plugin_over_ort_whole", "plugin_tiled", "ort_whole", None),
                    ("ort_checked_time_over_ort_same_plan", "ort_tiled", "ort_checked", None),
                    ("plugin_over_csbdeep", "plugin_tiled", "csbdeep", TARGETS["plugin_over_csbdeep"]),
                    ("ort_over_csbdeep", "ort_whole", "csbdeep", None),
                    ("plugin_over_torch", "plugin_tiled", "torch", None)):
                if a in names and b in names:
                    row["ratios"][key] = ratio(timings, a, b, target=target)
                    bench.add_figure(f"{key}_{size}", row["ratios"][key])
            rows.append(row)
    finally:
        for worker in (plugin, csbdeep):
            if worker is not None:
                worker.close()

    rows = sorted(rows + kept_rows, key=lambda r: r["size"])
    for key, value in kept_figures.items():
        bench.add_figure(key, value)
    rss = None if args.rss_size else stored_rss
    if args.rss_size and "plugin" not in args.skip:
        print(f"[bench] peak RSS at {args.rss_size}^2 ...", flush=True)
        try:
            rss = peak_rss_plugin(args.imagej, model, size=args.rss_size, threads=args.threads, tile=tile_default)
            bench.add_figure("peak_rss_gib_8192", figure([rss["peak_rss_gib"]], target=TARGETS["peak_rss_gib_8192"],
                                                         higher_is_better=False, note="one run: RSS does not depend on load"))
        except Exception as err:
            rss = {"error": f"{type(err).__name__}: {err}"[-2000:]}
            print(f"[bench] peak RSS failed: {rss['error']}", flush=True)
    if args.rss_size and "ort" not in args.skip:
        tile = balanced_tile(args.rss_size, tile_default, halo, multiple)
        try:
            (rss := rss or {})["python_ort"] = peak_rss_ort(model, size=args.rss_size, threads=args.threads, tile=tile)
        except Exception as err:
            (rss := rss or {})["python_ort"] = {"error": f"{type(err).__name__}: {err}"[-2000:]}
    report = {"config": bench.data["config"], "model": {"path": str(model.relative_to(ROOT)), "architecture": arch},
              "sizes": rows, "rss": rss}
    bench.write(markdown(report), sizes=rows, rss=rss, model=report["model"])
    print((RESULTS / f"{args.name}.md").read_text())
    return 0


def torch_runner(image, arch, threads):
    import torch

    from fluorecon.core.normalize import normalize, percentile_range
    from fluorecon.nets.unet import UNet, UNetConfig

    net = UNet(UNetConfig(**arch)).eval()

    def run(_):
        torch.set_num_threads(threads)
        lo, hi = percentile_range(image, 1, 99.8)
        with torch.inference_mode():
            net(torch.from_numpy(normalize(image, lo, hi))[None, None])

    return run


if __name__ == "__main__":
    sys.exit(main())
