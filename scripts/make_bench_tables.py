#!/usr/bin/env python3
"""Write the benchmark figures quoted in README.md and models/README.md from bench/results/*.json.

Every quoted figure sits between markers, ``<!-- bench:NAME -->…<!-- /bench -->`` (inline in a table
cell or around a whole table), and NAME is one of the snippets below, each reading its numbers from a
bench's json by key. Run it after a bench (``python scripts/make_bench_tables.py``); ``--check`` exits 1
when a README differs from what the results give (tests/bench/test_bench_tables.py runs the same check),
so the READMEs cannot drift from bench/results. A missing key is an error naming the file and the key.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOCS = [ROOT / "README.md", ROOT / "models" / "README.md"]
MARKER = re.compile(r"(<!-- bench:(?P<name>[a-z0-9-]+) -->)(?P<body>.*?)(<!-- /bench -->)", re.S)


@cache
def load(bench: str) -> dict:
    path = RESULTS / f"{bench}.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run bench/{bench}.py first")
    return json.loads(path.read_text())


def get(bench: str, key: str):
    """``get("deconvolve", "figures.rl_time_to_psnr_over_skimage.median")``: a dotted key into a result."""
    value = load(bench)
    for part in key.split("."):
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, ValueError):
            raise SystemExit(f"bench/results/{bench}.json has no key {key!r} (at {part!r}): rerun the bench or "
                             "update scripts/make_bench_tables.py") from None
    return value


def spread(f: dict, digits: int = 2, unit: str = "") -> str:
    """A harness figure as 'median (min–max)' plus its verdict when it has one."""
    text = f"{f['median']:.{digits}f}{unit}"
    if f.get("n", 1) > 1:
        text += f" ({f['min']:.{digits}f}–{f['max']:.{digits}f}{unit})"
    return text + (f", {f['verdict']}" if f.get("verdict") else "")


def load_note(bench: str) -> str:
    d = load(bench)
    note = f"load {d['load_start']['load_avg'][0]:.0f}→{d['load_end']['load_avg'][0]:.0f}"
    # Rows kept from an earlier run (bench/predict.py --sizes 8192 alone) carry their own run's load.
    earlier = {}
    for row in d.get("sizes", []) if isinstance(d.get("sizes"), list) else []:
        if isinstance(row, dict) and "run" in row:
            r = row["run"]
            earlier.setdefault(f"{r['load_start']['load_avg'][0]:.0f}→{r['load_end']['load_avg'][0]:.0f}", []).append(f"{row['size']}²")
    if earlier:
        now = [f"{row['size']}²" for row in d["sizes"] if "run" not in row]
        note = f"load {'/'.join(now) or 'peak-RSS run'} " + note.removeprefix("load ") + "".join(
            f", {'/'.join(sizes)} {loads}" for loads, sizes in earlier.items())
    return note


# --- predict --------------------------------------------------------------------------------------

def predict_row(size: int) -> dict:
    for row in get("predict", "sizes"):
        if row["size"] == size:
            return row
    raise SystemExit(f"bench/results/predict.json has no {size}² row: rerun bench/predict.py --sizes {size}")


def mpix(size: int, key: str) -> str:
    med = predict_row(size)["timings"]["median_per_unit_s"]
    return f"{size * size / med[key] / 1e6:.2f}" if key in med else "not run"


def predict_rounds_large() -> str:
    """Rounds of the predict rows above 4096² (fewer: one run takes minutes), or 'no' when none was run."""
    big = [row["timings"]["rounds"] for row in get("predict", "sizes") if row["size"] > 4096]
    return str(min(big)) if big else "no"


def predict_cells() -> tuple[str, str]:
    sizes = [row["size"] for row in get("predict", "sizes")]
    ours = "; ".join(f"{s}²: {mpix(s, 'plugin_tiled')} MPix/s" for s in sizes)
    rss = load("predict").get("rss") or {}
    if "peak_rss_gib" in rss:
        f = get("predict", "figures.peak_rss_gib_8192")
        ours += (f"; peak RSS at {rss['size']}², plain ImageJ: {rss['peak_rss_gib']:.1f} GiB (target ≤ {f['target']:g}, "
                 f"{f['verdict']})")
        if "peak_rss_gib" in rss.get("python_ort", {}):
            ours += f", Python ORT {rss['python_ort']['peak_rss_gib']:.1f} GiB"
    peers = []
    for s in sizes:
        r = predict_row(s)["ratios"]
        parts = [f"Python ORT same tiles {mpix(s, 'ort_tiled')}, whole {mpix(s, 'ort_whole')}"]
        if "ort_checked" in predict_row(s)["timings"]["median_per_unit_s"]:  # the plugin's work: check, then predict
            parts.append(f"Python ORT same tiles after the plugin's input check {mpix(s, 'ort_checked')} "
                         f"(plugin ÷ it {spread(r['plugin_over_ort_checked_same_plan'], unit='×')})")
        if "csbdeep" in predict_row(s)["timings"]["median_per_unit_s"]:
            parts.append(f"csbdeep {mpix(s, 'csbdeep')} (plugin ÷ csbdeep {spread(r['plugin_over_csbdeep'], unit='×')})")
        peers.append(f"{s}²: " + ", ".join(parts))
    return ours, "; ".join(peers)


# --- denoise --------------------------------------------------------------------------------------

def steps(dim: str, key: str) -> str:
    return f"{statistics.median(get('denoise', f'dims.{dim}.speed.steps_per_s')[key]):.2f}"


def n2v_speed_cells() -> tuple[str, str]:
    ours, peer = [], []
    for dim in ("2D", "3D"):
        if dim in get("denoise", "dims") and "speed" in get("denoise", f"dims.{dim}"):
            f = get("denoise", f"figures.n2v_steps_over_careamics_{dim.lower()}")
            ours.append(f"{dim} {steps(dim, 'fluorecon:n2v')} (vs CAREamics {spread(f, unit='×')}; target ≥ {f['target']:g})")
            sp = get("denoise", f"dims.{dim}.speed")
            if "conv_work_per_s_ratio" in sp:  # same depth/filters, not the same network (bench/work.py)
                ours[-1] = ours[-1][:-1] + (f"; our U-Net does {sp['work_per_step_over_careamics']:.2f}× the convolution "
                                            f"work per step: {spread(sp['conv_work_per_s_ratio'], unit='×')} per second)")
            peer.append(f"{dim} {steps(dim, 'careamics:n2v')}")
    if not ours:
        return "not measured on the harness yet (`bench/denoise.py`)", "—"
    return "; ".join(ours), "CAREamics " + "; ".join(peer)


def psnr(dim: str, key: str) -> str:
    r = get("denoise", f"dims.{dim}.budget.results").get(key, {})
    if "psnr_db" not in r:
        error = r.get("error", "not run")
        return "not run (run ended early for time)" if "not run:" in error else f"failed: {error.splitlines()[0][:80]}"
    conv = {True: "converged", False: "not converged", None: f"{r.get('steps')} steps, not converged"}[r.get("converged")]
    return f"{r['psnr_db']:.2f} dB ({conv})"


def budget_cells(ours: str, peers: list[tuple[str, str]]) -> tuple[str, str]:
    left, right = [], []
    for dim in ("2D", "3D"):
        block = get("denoise", "dims").get(dim, {})
        if "budget" not in block:
            continue
        left.append(f"{dim} {psnr(dim, ours)}")
        right.append(f"{dim} " + ", ".join(f"{label} {psnr(dim, key)}" for label, key in peers))
    if not left:
        return "not measured on the harness yet (`bench/denoise.py`)", "—"
    budget = get("denoise", "config.budget_min")
    return f"{budget:g} min each: " + "; ".join(left), "; ".join(right)


def converge_psnr(dim: str, key: str) -> str:
    r = get("denoise", f"dims.{dim}.converge.results").get(key, {})
    if "psnr_db" not in r:
        error = r.get("error", "not run")
        return "not run (run ended early for time)" if "not run:" in error else f"failed: {error.splitlines()[0][:80]}"
    state = "plateau" if r["plateau"]["converged"] else "cap reached, no plateau"
    return f"{r['psnr_db']:.2f} dB ({r['steps']} steps, {state})"


def converge_cells(ours: str, peers: list[tuple[str, str]]) -> tuple[str, str]:
    left, right = [], []
    for dim in ("2D", "3D"):
        c = get("denoise", "dims").get(dim, {}).get("converge")
        if not c:
            continue
        s = c["settings"]
        left.append(f"{dim} (≤ {c['cap_min']:g} min, {s['filters']} filters, patch {'×'.join(map(str, s['patch_size']))}) "
                    f"{converge_psnr(dim, ours)}")
        right.append(f"{dim} " + ", ".join(f"{label} {converge_psnr(dim, key)}" for label, key in peers))
    if not left:
        return "not measured on the harness yet (`bench/denoise.py --converge-min`)", "—"
    return "; ".join(left), "; ".join(right)


# --- superres -------------------------------------------------------------------------------------

def peer_not_run(error: str) -> str:
    """A peer's recorded reason, e.g. 'not run: venv not built', as one short line."""
    line = error.strip().splitlines()[-1] if error.strip() else "failed"
    return line if line.startswith("not run") else f"failed: {line[:80]}"


def superres_cells() -> tuple[str, str]:
    sr = get("superres", "quality")
    gain = get("superres", "figures.care_psnr_minus_bicubic_db")
    peer = (f"CSBDeep CARE {sr['csbdeep_care']['psnr_db_median']:.1f}" if "csbdeep_care" in sr
            else f"CSBDeep CARE {peer_not_run(get('superres', 'csbdeep.error'))}")
    return (f"{sr['care']['psnr_db_median']:.1f} (+{spread(gain)} dB over bicubic per pair)",
            f"{peer}; bicubic {sr['bicubic']['psnr_db_median']:.1f}, RL-TV {sr['rl_tv']['psnr_db_median']:.1f}")


# --- deconvolve -----------------------------------------------------------------------------------

def rl_cells() -> tuple[str, str]:
    figs = {k: v for k, v in get("deconvolve", "figures").items() if k.startswith("rl_over_skimage_")}
    one = [v for k, v in figs.items() if k.endswith("_t1")]
    many = [v for k, v in figs.items() if not k.endswith("_t1")]
    cases = get("deconvolve", "config.cases")
    sizes = ["×".join(map(str, s)) for s in sorted({tuple(s) for s, _ in cases}, key=lambda s: (len(s), s))]
    psfs = sorted({k for _, k in cases})
    low, high = min(f["median"] for f in one), max(f["median"] for f in one)
    verdicts = sorted({f["verdict"] for f in one})
    all_cores = (f"; {min(f['median'] for f in many):.2f}–{max(f['median'] for f in many):.2f}× at "
                 f"{get('deconvolve', 'config.threads')[-1]} threads each") if many else ""
    return (f"{low:.2f}–{high:.2f}× scikit-image per iteration (medians, 1 thread each{all_cores}; {', '.join(sizes)}, "
            f"PSF {psfs[0]}–{psfs[-1]}; verdicts vs ≥ 3: {', '.join(verdicts)})",
            "scikit-image `richardson_lucy`, same boundary and result")


def rl_row(shape: str, psf: int) -> tuple[str, str]:
    row = next(r for r in get("deconvolve", "per_iteration")
               if "x".join(map(str, r["shape"])) == shape and r["psf_shape"][-1] == psf)
    med = row["timings"]["median_per_unit_s"]
    f = get("deconvolve", f"figures.rl_over_skimage_{shape}_psf{psf}_t1")
    peer = f"scikit-image {med['skimage_t1']:.2f}"
    if "redlionfish" in med:
        peer += f", RedLionfish CPU {med['redlionfish']:.2f}"
    return f"{med['fluorecon_t1']:.2f} (speed-up {spread(f, unit='×')})", peer


def ttp_cells() -> tuple[str, str]:
    t = get("deconvolve", "time_to_psnr")
    f = get("deconvolve", "figures.rl_time_to_psnr_over_skimage")
    med = t["timings"]["median_per_unit_s"]
    return (f"{med[f['subject']]:.2f} s (accelerated RL, {t['accelerated_iterations']} iterations; {spread(f, unit='×')})",
            f"{med['skimage_rl_50']:.2f} s")


# --- lightfield -----------------------------------------------------------------------------------

def lightfield_what() -> str:
    s = get("lightfield", "versus_pyolaf.scene")
    return (f"light-field RL, s/iteration, {s['lenslets'][0]}×{s['lenslets'][1]} lenslets, Nnum {s['nnum']} "
            "(pyolaf built for cupy, on numpy here)")


def lightfield_cells() -> tuple[str, str]:
    t = get("lightfield", "versus_pyolaf.timings")
    f = get("lightfield", "figures.iteration_speed_over_pyolaf")
    q = get("lightfield", "versus_pyolaf.scene.quality_iterations")
    return (f"{t['median_per_unit_s']['fluorecon']:.3f}; speed ÷ pyolaf's {spread(f, digits=0, unit='×')}; "
            f"{get('lightfield', 'versus_pyolaf.fluorecon.psnr'):.1f} dB after {q} it.",
            f"pyolaf {t['median_per_unit_s']['pyolaf']:.1f} ({get('lightfield', 'versus_pyolaf.pyolaf.psnr'):.1f} dB)")


# --- the benches not (yet) on the harness: their own keys --------------------------------------

def jaccard(method: str, density: str) -> float:
    return next(r["jaccard"] for r in get("localize", "rows") if r["method"] == method and r["density"] == density)


def smlm_ms(method: str, density: str) -> float:
    return next(r["ms_per_frame"] for r in get("localize", "rows") if r["method"] == method and r["density"] == density)


def ood_sentence() -> str:
    """bench/ood.py's rates on the shipped 2D denoiser (qc.json, ``ood_calibration``), each with its n."""
    d = get("qc", "ood_calibration.care_denoise_2d")

    def pct(f: dict) -> str:
        return f"{100 * f['rate']:.0f} % (n = {f['n']})"

    det = d["detection"]
    ves = get("qc", "ood_calibration.cross_class")
    return (f"false alarms on fresh in-distribution inputs {pct(d['false_alarm'])}; detected from the pixels alone: "
            f"pixel size ×0.5 {pct(det['pixel size x0.5'])}, ×2 {pct(det['pixel size x2'])} (with the image's "
            f"calibration {pct(det['pixel size x2, calibrated image'])}), structures ×3 {pct(det['structure scale x3'])}, "
            f"intensity ×1000 {pct(det['intensity x1000 (photons x1000)'])}, noise ×3 {pct(det['noise x3 (photons /10)'])}, "
            f"diffuse cytoplasm {pct(det['diffuse cytoplasm'])}; a vesicle-trained card flags filaments "
            f"{pct(ves['detection']['filaments'])}")


def snippets() -> dict:
    """NAME → generated text. Table rows are '| what | fluorecon | peer |'."""
    def row(what, cells):
        return f"| {what} | {cells[0]} | {cells[1]} |"

    rl_shape, rl_psf = "64x256x256", 31
    sim_q = get("sim", "quality")
    lf = get("lightfield", "learned_vs_iterative")
    reg = get("register", "ratios")
    unmix20 = get("unmix", "learned.20")
    table = [
        "| what | fluorecon | peer |", "|---|---|---|",
        row("CARE prediction, Fiji plugin, same tile plan, 2 threads each", predict_cells()),
        row("N2V training steps/s (same depth/filters, patch, batch, threads)", n2v_speed_cells()),
        *([row("N2V denoising PSNR at an equal wall-clock budget",
               budget_cells("fluorecon:n2v", [("CAREamics defaults", "careamics:n2v@recommended"),
                                             ("CAREamics at our settings", "careamics:n2v@ours")])),
           row("CARE denoising PSNR at an equal wall-clock budget",
               budget_cells("fluorecon:care", [("csbdeep defaults", "csbdeep:care@recommended"),
                                              ("csbdeep at our lr", "csbdeep:care@ours")]))]
          if any("budget" in b for b in get("denoise", "dims").values()) else []),
        row("N2V denoising PSNR at convergence (validation plateau or cap)",
            converge_cells("fluorecon:n2v", [("CAREamics defaults", "careamics:n2v@recommended"),
                                            ("CAREamics at our settings", "careamics:n2v@ours")])),
        row("CARE denoising PSNR at convergence (validation plateau or cap)",
            converge_cells("fluorecon:care", [("csbdeep defaults", "csbdeep:care@recommended"),
                                             ("csbdeep at our lr", "csbdeep:care@ours")])),
        row("Richardson–Lucy speed-up, all sizes and PSFs benched", rl_cells()),
        row(f"Richardson–Lucy s/iteration, {rl_shape.replace('x', '×')}, PSF {rl_psf}, 1 thread", rl_row(rl_shape, rl_psf)),
        row("time to scikit-image's 50-iteration PSNR, 1 thread", ttp_cells()),
        row("2D SIM reconstruction, 256²×9 frames, pattern given (s, median of rounds)",
            (f"{get('sim', 'seconds_median.classical_given'):.3f} "
             f"({spread(get('sim', 'figures.classical_given_speed_over_fairsim_given'), unit='×')} fairSIM's speed)",
             f"fairSIM {get('sim', 'seconds_median.fairsim_given'):.2f}")),
        row("SIM FRC resolution gain over widefield, 3000 photons",
            (f"{get('sim', 'fr_resolution_gain_over_widefield'):.2f}×",
             f"fairSIM FRC {sim_q['3000_photons']['fairsim_given']['frc_nm']:.0f} nm vs ours "
             f"{sim_q['3000_photons']['classical_given']['frc_nm']:.0f} nm")),
        row(lightfield_what(), lightfield_cells()),
        row("learned light field vs 16 RL iterations",
            (f"{get('lightfield', 'ratios.learned_speedup_over_iterative'):.1f}× faster, {lf['learned']['psnr']:.1f} vs "
             f"{lf['iterative']['psnr_per_iter'][-1]:.1f} dB", "—")),
        row("SMLM Jaccard, high density (ms/frame, median of rounds)", (
            f"Deep-STORM {jaccard('deepstorm', 'high'):.2f} ({smlm_ms('deepstorm', 'high'):.1f} ms; "
            f"{spread(get('localize', 'figures.deepstorm_speed_over_mle_high'), unit='×')} the fit's speed)",
            f"MLE fit {jaccard('mle', 'high'):.2f} ({smlm_ms('mle', 'high'):.1f} ms)")),
        row("×2 super-resolution PSNR (dB), median over held-out pairs", superres_cells()),
        row("learned unmixing abundance error at 20 photons", (f"{unmix20['error_learned']:.2f}", f"NNLS {unmix20['error_nnls']:.2f}")),
        row("drift: time, max error (50 frames, 256²)",
            (f"{reg['time_over_skimage']:.2f}× scikit-image's time, {get('register', 'drift_error_px'):.3f} px",
             f"scikit-image {get('register', 'drift_error_px') / reg['error_over_skimage']:.2f} px, "
             f"pystackreg ({1 / reg['time_over_pystackreg']:.0f}× our time)")),
    ]
    loads = ", ".join(f"{b} {load_note(b)}" for b in ("predict", "denoise", "deconvolve", "sim", "localize", "superres", "lightfield")
                      if "load_start" in load(b))
    gpu = get("gpu", "deconvolution.cuda_speedup_over_cpu"), get("gpu", "training.n2v_steps_per_s_cuda"), \
        get("gpu", "training.n2v_cuda_speedup_over_cpu"), get("gpu", "lightfield.cuda_speedup_over_cpu")
    return {
        "readme-table": "\n" + "\n".join(table) + "\n\nAll rows but the learned light-field one come from `bench/harness.py` (medians over ≥ 5 "
                        "interleaved rounds or over held-out images, min–max in brackets, a verdict only when the whole spread clears the "
                        f"target; {loads} on 2 cores; CARE at 8192² over {predict_rounds_large()} rounds); the learned light-field row is a "
                        "single run per held-out volume.\n",
        "readme-gpu": f"Richardson–Lucy {gpu[0]:.0f}× faster than the 16-core CPU of the same machine, N2V training "
                      f"{gpu[1]:.0f} steps/s ({gpu[2]:.0f}×), light-field RL {gpu[3]:.0f}×",
        "readme-ood": ood_sentence(),
        "models-smlm": f"Jaccard low/high density: Deep-STORM {jaccard('deepstorm', 'low'):.3f}/{jaccard('deepstorm', 'high'):.3f}, "
                       f"DECODE-style {jaccard('decode', 'low'):.3f}/{jaccard('decode', 'high'):.3f}, MLE fit "
                       f"{jaccard('mle', 'low'):.3f}/{jaccard('mle', 'high'):.3f}",
        "models-unmix": f"abundance error at 20 photons: {unmix20['error_learned']:.2f} vs NNLS {unmix20['error_nnls']:.2f}",
        "models-sim": "PSNR at 30/300/3000 photons: widefield " + "/".join(
            f"{sim_q[p]['widefield']['psnr_db']:.1f}" for p in ("30_photons", "300_photons", "3000_photons")) +
            ", classical 9-frame Wiener " + "/".join(f"{sim_q[p]['classical_given']['psnr_db']:.1f}"
                                                     for p in ("30_photons", "300_photons", "3000_photons")) +
            ", learned 9-frame " + "/".join(f"{sim_q[p]['learned_9frames']['psnr_db']:.1f}"
                                            for p in ("30_photons", "300_photons", "3000_photons")) + " dB",
        "models-lightfield": f"learned {lf['learned']['psnr']:.1f} dB vs RL (16 it.) {lf['iterative']['psnr_per_iter'][-1]:.1f} dB, "
                             f"{get('lightfield', 'ratios.learned_speedup_over_iterative'):.1f}× faster",
    }


def render(text: str, values: dict) -> str:
    def sub(m):
        name = m.group("name")
        if name not in values:
            raise SystemExit(f"unknown bench marker {name!r}; known: {', '.join(sorted(values))}")
        return m.group(1) + values[name] + m.group(4)
    return MARKER.sub(sub, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a README differs from what bench/results give")
    args = p.parse_args(argv)
    values = snippets()
    stale = []
    for doc in DOCS:
        text = doc.read_text()
        new = render(text, values)
        if new != text:
            stale.append(doc.relative_to(ROOT))
            if not args.check:
                doc.write_text(new)
    if args.check and stale:
        print(f"out of date with bench/results: {', '.join(map(str, stale))}; run python scripts/make_bench_tables.py",
              file=sys.stderr)
        return 1
    print("updated: " + (", ".join(map(str, stale)) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
