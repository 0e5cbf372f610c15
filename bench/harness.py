"""The one timing and reporting harness every bench in bench/ uses.

Rules it enforces (bench/README.md, "How every bench is timed"):

- Contenders run interleaved in rounds (A B A B …, ``rounds`` ≥ 5 by default), so a swing in the shared
  machine's load hits every contender alike; each contender's warm-up run (sessions, FFT plans, JIT,
  allocators) is left out of the timings, on every side.
- A timing is a whole run divided by its work, t_n / n (never a difference of two short runs, which
  goes negative when set-up time varies).
- Each contender states its threads; benches compare at equal threads and add a 1-thread row where
  the thread count could explain the ratio.
- The ratio is taken per round (the same round's runs of both sides), and the json keeps every round's
  ratio with its median, min–max and interquartile range. A verdict against a target is "met" or
  "missed" only when the whole min–max spread is on one side of the target; otherwise "undecided".
- Machine load (``os.getloadavg``, cores) is recorded at the start and the end of every bench.
- A peer's output passes a units/range check before any ratio is formed: a peer scoring below its own
  input fails the bench with a message (``PeerSanityError``), because that is a harness bug (wrong
  units, axes, normalization), not a measurement.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RESULTS = Path(os.environ.get("FLUORECON_BENCH_RESULTS", Path(__file__).resolve().parent / "results"))
DEFAULT_ROUNDS = 5
VERDICTS = ("met", "missed", "undecided")


class PeerSanityError(RuntimeError):
    """A peer's output fails its units/range check: the bench stops instead of reporting a ratio."""


@dataclass
class Contender:
    """One side of a comparison.

    ``run(work)`` does ``work`` units (iterations, images, steps) and returns its output (or None);
    ``prepare()`` runs before every timed run and is not timed (e.g. ``torch.set_num_threads``);
    ``timed`` lets a contender report its own seconds for the run (e.g. measured inside a JVM or a
    worker process, without process start) instead of the harness's wall clock around ``run``.
    """

    name: str
    run: Callable[[int], object]
    threads: int
    prepare: Callable[[], None] | None = None
    timed: Callable[[object], float] | None = None
    notes: str = ""


@dataclass
class Timings:
    """Per-contender seconds per unit of work, one entry per round, in round order."""

    work: int
    unit: str
    rounds: int
    order: list[str]
    threads: dict[str, int]
    per_unit_s: dict[str, list[float]] = field(default_factory=dict)
    warmup_s: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"work": self.work, "unit": self.unit, "rounds": self.rounds, "order": self.order,
                "threads": self.threads, "warmup_s": {k: round(v, 6) for k, v in self.warmup_s.items()},
                "per_unit_s": {k: [round(t, 6) for t in v] for k, v in self.per_unit_s.items()},
                "median_per_unit_s": {k: round(statistics.median(v), 6) for k, v in self.per_unit_s.items()}}


def machine_load() -> dict:
    """Load averages (1, 5, 15 min) and cores now: recorded at the start and the end of every bench."""
    return {"time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "load_avg": [round(x, 2) for x in os.getloadavg()], "nproc": os.cpu_count()}


def machine() -> dict:
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def interleave(contenders: Sequence[Contender], *, work: int, rounds: int = DEFAULT_ROUNDS, unit: str = "run",
               warmup_work: int | None = None, clock: Callable[[], float] = time.perf_counter,
               log: Callable[[str], None] | None = print, keep_outputs: bool = False,
               close: Sequence[object | None] = ()) -> Timings:
    """Warm every contender up once (not timed; ``warmup_work`` units, default ``work``; 0 only for
    contenders that leave out their own warm-up inside every run, e.g. a fresh training process that
    times the steps after its first ones), then run them A B A B … for ``rounds`` rounds, each doing
    ``work`` units; the timing of a run is its whole wall time (or its own ``timed``) / work. The
    ``PeerWorker``s in ``close`` (None entries skipped) are closed at the end, also on an error."""
    try:
        return _interleave(contenders, work=work, rounds=rounds, unit=unit, warmup_work=warmup_work, clock=clock,
                           log=log, keep_outputs=keep_outputs)
    finally:
        for worker in close:
            if worker is not None:
                worker.close()


def _interleave(contenders, *, work, rounds, unit, warmup_work, clock, log, keep_outputs) -> Timings:
    if rounds < 1 or work < 1:
        raise ValueError(f"rounds and work must be ≥ 1 (got rounds={rounds}, work={work})")
    names = [c.name for c in contenders]
    if len(set(names)) != len(names):
        raise ValueError(f"contender names must be unique: {names}")
    out = Timings(work=work, unit=unit, rounds=rounds, order=[], threads={c.name: c.threads for c in contenders},
                  per_unit_s={c.name: [] for c in contenders})
    for c in contenders:
        if warmup_work == 0:
            break
        if c.prepare:
            c.prepare()
        start = clock()
        c.run(warmup_work or work)
        out.warmup_s[c.name] = clock() - start
    for r in range(rounds):
        for c in contenders:
            if c.prepare:
                c.prepare()
            start = clock()
            result = c.run(work)
            seconds = c.timed(result) if c.timed else clock() - start
            out.per_unit_s[c.name].append(seconds / work)
            out.order.append(c.name)
            if keep_outputs:
                out.outputs[c.name] = result
        if log:
            log(f"  round {r + 1}/{rounds}: " + ", ".join(
                f"{c.name} {out.per_unit_s[c.name][-1]:.4g} s/{unit}" for c in contenders))
    return out


def spread(values: Sequence[float]) -> dict:
    """Median, min–max and interquartile range (linear quantiles) of a sample."""
    v = sorted(float(x) for x in values)
    if not v:
        raise ValueError("spread of an empty sample")
    q1, q3 = (float(np.quantile(v, q)) for q in (0.25, 0.75))
    return {"n": len(v), "median": statistics.median(v), "min": v[0], "max": v[-1], "q1": q1, "q3": q3,
            "iqr": q3 - q1}


def verdict(values: Sequence[float], target: float | None, *, higher_is_better: bool = True) -> str | None:
    """"met" when every value clears the target, "missed" when none does, "undecided" in between;
    None without a target. A single value (e.g. one deterministic quality figure) decides alone."""
    if target is None:
        return None
    if not values:
        return "undecided"
    ok = [(x >= target) if higher_is_better else (x <= target) for x in values]
    return "met" if all(ok) else ("missed" if not any(ok) else "undecided")


def ratio(timings: Timings, subject: str, baseline: str, *, target: float | None = None) -> dict:
    """Speed-up of ``subject`` over ``baseline`` per round (baseline time / subject time of the same
    round), with its spread and verdict (higher is better)."""
    a, b = timings.per_unit_s[subject], timings.per_unit_s[baseline]
    rounds = [tb / ta for ta, tb in zip(a, b)]
    return {"subject": subject, "baseline": baseline, "per_round": [round(x, 4) for x in rounds],
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in spread(rounds).items()},
            "threads": {subject: timings.threads[subject], baseline: timings.threads[baseline]},
            "target": target, "verdict": verdict(rounds, target)}


def figure(values: Sequence[float], *, target: float | None = None, higher_is_better: bool = True,
           note: str = "") -> dict:
    """A figure that is not a timing ratio (a PSNR difference, an error): its values, spread, verdict."""
    s = spread(values)
    return {"values": [round(float(x), 4) for x in values], **{k: (round(v, 4) if isinstance(v, float) else v)
                                                                for k, v in s.items()},
            "target": target, "higher_is_better": higher_is_better,
            "verdict": verdict(values, target, higher_is_better=higher_is_better), **({"note": note} if note else {})}


def check_peer_output(name: str, output: np.ndarray, *, reference: np.ndarray | None = None,
                      output_psnr_db: float | None = None, input_psnr_db: float | None = None,
                      shape: tuple[int, ...] | None = None) -> None:
    """Units/range check on a peer's output before it is scored or timed against ours.

    Fails (``PeerSanityError``) when the output is not finite, has the wrong shape, lies outside the
    reference's range by more than the reference's own span (wrong units: normalized vs raw ADU), or
    scores below the input it was given (a restoration worse than doing nothing means the harness
    fed or read the peer wrongly)."""
    out = np.asarray(output)
    if shape is not None and tuple(out.shape) != tuple(shape):
        raise PeerSanityError(f"{name}: output shape {tuple(out.shape)} differs from the input's {tuple(shape)} — "
                              "check the axes the peer was given and how its output is read back")
    if not np.all(np.isfinite(out)):
        raise PeerSanityError(f"{name}: output has {int(np.size(out) - np.isfinite(out).sum())} non-finite values")
    if reference is not None:
        lo, hi = float(np.min(reference)), float(np.max(reference))
        span = max(hi - lo, 1e-12)
        o_lo, o_med, o_hi = (float(x) for x in np.percentile(out, (1, 50, 99)))
        if o_hi < lo - span or o_lo > hi + span or not (lo - span <= o_med <= hi + span):
            raise PeerSanityError(
                f"{name}: output range [{o_lo:.4g}, {o_hi:.4g}] (median {o_med:.4g}) is not in the units of its input "
                f"[{lo:.4g}, {hi:.4g}] — check normalization/denormalization between the harness and the peer")
    if output_psnr_db is not None and input_psnr_db is not None and output_psnr_db < input_psnr_db:
        raise PeerSanityError(
            f"{name}: output PSNR {output_psnr_db:.2f} dB is below its input's {input_psnr_db:.2f} dB — a restoration "
            "worse than its input means the harness fed or read the peer wrongly (units, axes, normalization); "
            "fix the harness before quoting a ratio")


class PeerWorker:
    """A peer kept alive in its own process (its own venv) so that it can take part in interleaved
    rounds without paying process start-up each round: one JSON request per line on stdin, one JSON
    reply per line on stdout (lines not starting with "{" are the peer's chatter and are skipped)."""

    def __init__(self, cmd: Sequence[str], *, env: dict | None = None, cwd: Path | None = None):
        self.cmd = [str(c) for c in cmd]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd=cwd)

    def call(self, request: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("{"):
                reply = json.loads(line)
                if "error" in reply:
                    raise RuntimeError(f"{self.cmd[1]}: {reply['error']}")
                return reply
        err = self.proc.stderr.read() if self.proc.stderr else ""
        raise RuntimeError(f"{' '.join(self.cmd[:2])} ended (exit {self.proc.wait()}): {err[-2000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve_requests(handle: Callable[[dict], dict]) -> None:
    """The worker side of ``PeerWorker``: answer each JSON line on stdin with one JSON line."""
    for line in sys.stdin:
        if line.strip():
            try:
                reply = handle(json.loads(line))
            except Exception as err:  # the bench shows the peer's error instead of hanging
                reply = {"error": f"{type(err).__name__}: {err}"}
            print(json.dumps(reply), flush=True)


class Bench:
    """One bench's result file: configuration, machine, load at start and end, figures; written as
    ``results/<name>.json`` (atomically) plus a markdown table."""

    def __init__(self, name: str, config: dict, *, results: Path | None = None):
        self.name = name
        self.results = Path(results) if results is not None else RESULTS
        self.data: dict = {"bench": name, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "config": config,
                           "machine": machine(), "load_start": machine_load(), "figures": {}}

    def add_figure(self, key: str, value: dict) -> dict:
        self.data["figures"][key] = value
        return value

    def write(self, markdown: str, **extra) -> Path:
        self.data.update(extra)
        self.data["load_end"] = machine_load()
        self.data["verdicts"] = {k: v.get("verdict") for k, v in self.data["figures"].items()}
        self.results.mkdir(parents=True, exist_ok=True)
        path = self.results / f"{self.name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=_json_default) + "\n")
        tmp.replace(path)
        md = self.results / f"{self.name}.md"
        md_tmp = md.with_suffix(".md.tmp")
        md_tmp.write_text(load_line(self.data) + "\n\n" + markdown.rstrip() + "\n\n" + figures_table(self.data) + "\n")
        md_tmp.replace(md)
        return path


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def load_line(data: dict) -> str:
    s, e = data["load_start"], data.get("load_end", data["load_start"])
    return (f"_{data['bench']}, {data['date']}; `{data['command']}`; {s['nproc']} cores; load average "
            f"{s['load_avg'][0]:.1f} at start, {e['load_avg'][0]:.1f} at end (shared machine)._")


def fmt_spread(f: dict, digits: int = 2) -> str:
    if f.get("n", 1) == 1:
        return f"{f['median']:.{digits}f}"
    return (f"{f['median']:.{digits}f} (min–max {f['min']:.{digits}f}–{f['max']:.{digits}f}, "
            f"IQR {f['q1']:.{digits}f}–{f['q3']:.{digits}f}, n {f['n']})")


def figures_table(data: dict) -> str:
    lines = ["| figure | median (spread) | target | verdict |", "| --- | --- | --- | --- |"]
    for key, f in data["figures"].items():
        target = f.get("target")
        sign = "≥" if f.get("higher_is_better", True) else "≤"
        lines.append(f"| `{key}` | {fmt_spread(f)} | {f'{sign} {target:g}' if target is not None else '—'} | "
                     f"{f.get('verdict') or '—'} |")
    return "\n".join(lines)

