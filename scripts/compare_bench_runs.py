#!/usr/bin/env python3
"""Do two `make bench` runs agree? Compares every figure the two result folders share, key by key.

    python scripts/compare_bench_runs.py bench/results bench/results/rerun      # writes bench/results/agreement.*

A figure with a target has a verdict in each run (bench/harness.py: met / missed only when the whole spread is on one
side of the target, else undecided). Two verdicts **agree** when equal, **contradict** when one run says met and the
other missed, and are **one-sided** when one run could not decide (its spread straddles the target) while the other
did. A figure without a target is a comparison with a neutral point (1 for a ratio of speeds or errors, 0 for a
difference in dB), judged like a target: the runs **agree on the winner** when both spreads lie on the same side
of it (or both straddle it), the winner is **unclear** when one run's spread straddles it, and it **changed** when
the two spreads lie on opposite sides. Figures without
either (an error in px, a count) are listed with both medians. `--strict` exits 1 on a contradiction or a winner that
changed sides.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Result files that are not from `make bench` (one-off reruns and smoke runs kept beside it) are left out.
NOT_MAKE_BENCH = {"deconvolve-quick", "deconvolve-rerun", "denoise-care3d", "agreement", "gpu"}


def neutral_point(key: str, fig: dict) -> float | None:
    """What "no difference" is for a figure without a target: 0 for a difference, 1 for a ratio; None otherwise."""
    if "minus" in key or key.endswith("_db"):
        return 0.0
    if "per_round" in fig or "_over_" in key or "speedup" in key or "speed_" in key:
        return 1.0
    return None


def compare_figure(key: str, a: dict, b: dict) -> dict:
    row = {"key": key, "median_a": a.get("median"), "median_b": b.get("median"),
           "range_a": [a.get("min"), a.get("max")], "range_b": [b.get("min"), b.get("max")],
           "verdict_a": a.get("verdict"), "verdict_b": b.get("verdict"), "target": a.get("target", b.get("target"))}
    if row["median_a"] is None or row["median_b"] is None:
        row["status"] = "no median"
        return row
    lo, hi = max(row["range_a"][0], row["range_b"][0]), min(row["range_a"][1], row["range_b"][1])
    row["ranges_overlap"] = bool(lo <= hi)
    row["median_change"] = (row["median_b"] - row["median_a"]) / abs(row["median_a"]) if row["median_a"] else None
    va, vb = row["verdict_a"], row["verdict_b"]
    if va is not None and vb is not None:
        row["status"] = ("agree" if va == vb else "contradict" if {va, vb} == {"met", "missed"} else "one-sided")
        return row
    point = neutral_point(key, a)
    if point is None:
        row["status"] = "no target"
        return row
    row["neutral"] = point
    # The neutral point is judged like a target: a run names a winner only when its whole spread is on one side.
    side_a, side_b = (_verdict(r, point, True) for r in (row["range_a"], row["range_b"]))
    if "undecided" in (side_a, side_b):
        row["status"] = "same winner" if side_a == side_b else "winner unclear"
    else:
        row["status"] = "same winner" if side_a == side_b else "winner changed"
    return row


def _verdict(values: list[float], target: float, higher_is_better: bool) -> str:
    ok = [(v >= target) if higher_is_better else (v <= target) for v in values]
    return "met" if all(ok) else "missed" if not any(ok) else "undecided"


def _figure(values: list[float], target: float, higher_is_better: bool = True) -> dict:
    values = sorted(values)
    return {"values": values, "median": values[len(values) // 2] if len(values) % 2 else
            (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2, "min": values[0], "max": values[-1],
            "target": target, "verdict": _verdict(values, target, higher_is_better)}


def figures_of(name: str, doc: dict) -> dict:
    """The harness figures of a result file; streaming.json (not on the harness: one process per run) gives its
    targets' figures here, by the harness's verdict rule."""
    figs = doc.get("figures") if isinstance(doc.get("figures"), dict) else {}
    if name == "streaming" and "in_memory_vs_streamed" in doc:
        targets = doc.get("targets", {})
        figs = dict(figs)
        for task, r in doc["in_memory_vs_streamed"].items():
            per_round = r.get("throughput_ratio_per_round") or [r["throughput_ratio"]]
            figs[f"throughput_ratio_{task}"] = _figure(per_round, targets.get("throughput_ratio", 0.9))
        for task, r in (doc.get("streamed") or {}).items():
            figs[f"peak_rss_gib_{task}"] = _figure([r["peak_rss_gib"]], targets.get("peak_rss_gib", 4.0), False)
    return figs


def compare(dir_a: Path, dir_b: Path) -> dict:
    files = sorted(p.stem for p in dir_b.glob("*.json") if p.stem not in NOT_MAKE_BENCH)
    rows, missing = [], []
    for name in files:
        fa, fb = dir_a / f"{name}.json", dir_b / f"{name}.json"
        if not fa.exists():
            missing.append(f"{name}.json only in {dir_b}")
            continue
        ja, jb = json.loads(fa.read_text()), json.loads(fb.read_text())
        figs_a, figs_b = figures_of(name, ja), figures_of(name, jb)
        for key in sorted(set(figs_a) | set(figs_b)):
            if key not in figs_a or key not in figs_b:
                missing.append(f"{name}: {key} only in {dir_a if key in figs_a else dir_b}")
                continue
            row = compare_figure(key, figs_a[key], figs_b[key])
            row["bench"] = name
            row["load_a"] = (ja.get("load_start") or {}).get("load_avg", [None])[0]
            row["load_b"] = (jb.get("load_start") or {}).get("load_avg", [None])[0]
            rows.append(row)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"run_a": str(dir_a), "run_b": str(dir_b), "counts": counts, "missing": missing, "rows": rows}


def _fmt(x, digits=3):
    return "–" if x is None else f"{x:.{digits}g}"


def markdown(doc: dict) -> str:
    c = doc["counts"]
    lines = ["# Two `make bench` runs, figure by figure", "",
             f"Run A: `{doc['run_a']}`, run B: `{doc['run_b']}` (scripts/compare_bench_runs.py).", "",
             "Verdicts (figures with a target): " + ", ".join(
                 f"{c.get(s, 0)} {s}" for s in ("agree", "one-sided", "contradict")) + ".",
             "Figures without a target, compared with their neutral point (1 for a ratio, 0 for a dB difference): "
             + ", ".join(f"{c.get(s, 0)} {s}" for s in ("same winner", "winner unclear", "winner changed")) + "; "
             f"{c.get('no target', 0)} with neither (both medians listed).", "",
             "| bench | figure | target | A median (min–max) | verdict A | B median (min–max) | verdict B | status |",
             "|---|---|---|---|---|---|---|---|"]
    order = {"contradict": 0, "winner changed": 1, "one-sided": 2, "winner unclear": 3, "agree": 4, "same winner": 5}
    for r in sorted(doc["rows"], key=lambda r: (order.get(r["status"], 5), r["bench"], r["key"])):
        ra, rb = r["range_a"], r["range_b"]
        lines.append(f"| {r['bench']} | {r['key']} | {_fmt(r['target'])} | {_fmt(r['median_a'])} ({_fmt(ra[0])}–"
                     f"{_fmt(ra[1])}) | {r['verdict_a'] or '–'} | {_fmt(r['median_b'])} ({_fmt(rb[0])}–{_fmt(rb[1])}) "
                     f"| {r['verdict_b'] or '–'} | {r['status']} |")
    if doc["missing"]:
        lines += ["", "In one run only: " + "; ".join(doc["missing"]) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--out", type=Path, help="json to write (default: RUN_A/agreement.json, and .md beside it)")
    p.add_argument("--strict", action="store_true", help="exit 1 on a contradiction or a winner that changed sides")
    args = p.parse_args(argv)
    for d in (args.run_a, args.run_b):
        if not d.is_dir():
            raise SystemExit(f"{d} is not a folder of bench results: run `make bench BENCH_RESULTS={d}` first")
    doc = compare(args.run_a, args.run_b)
    if not doc["rows"]:
        raise SystemExit(f"{args.run_a} and {args.run_b} share no bench figures")
    out = args.out or args.run_a / "agreement.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc).split("\n| bench")[0])
    bad = doc["counts"].get("contradict", 0) + doc["counts"].get("winner changed", 0)
    return 1 if args.strict and bad else 0


if __name__ == "__main__":
    sys.exit(main())
