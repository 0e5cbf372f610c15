"""Awkward inputs through `open(...); run("Denoise...", ...)` macros (issue 11 §3), in both launchers:
headless through ij1-patcher (one JVM runs every case's macro in turn: HeadlessMacro --each) and plain
ImageJ's -batch under Xvfb (one JVM per case, since its exit status is what is checked).

Every failing case must end with the plugin's message in the Log, no Java stack trace, the macro's
next line not run, no output file (nor a temporary one) and a failed status; where ImageJ's own opener
cannot read the file, the plugin says so or the harness does, within its timeout. The harness itself
(scripts/ijrun.py) must stop a run that waits on a modal dialog under Xvfb instead of hanging.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

import badinputs
import ijbridge
from badinputs import CASES

ijrun = ijbridge.ijrun
STACK_LINE = re.compile(r"^\s+at [\w$.<>]+\(|Exception:|^\s*\.\.\. \d+ more", re.M)
PLUGIN_LINE = re.compile(r"^fluorecon [\w-]+: ")


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, model_2d) -> Path:
    root = tmp_path_factory.mktemp("bad inputs")  # a space in every path
    badinputs.write_inputs(root / "in", model_2d)
    (root / "macros").mkdir()
    # server-backed commands find "their" server here: a loopback port nobody listens on
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (root / "config").mkdir()
    (root / "config" / "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}"}))
    return root


def jvm_options(root: Path) -> tuple[str, ...]:
    return (f"-Dfluorecon.config_dir={root / 'config'}",)


def write_macro(root: Path, case, mode: str) -> tuple[Path, Path]:
    """The case's macro and the output path it asks for (in a folder of its own, to find stray files)."""
    out_dir = root / f"out-{mode}" / case.name
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{case.name} result.tif"
    model = root / "in" / case.model
    if case.command == "Denoise...":
        opts = {"model_file": model, "tile": 64, "threads": 1, **case.options, "save": out}
    else:
        opts = {**case.options, "save": out}
    macro = root / "macros" / f"{mode}-{case.name}.ijm"
    first = f'open("{root / "in" / case.before}");\n' if case.before else ""
    macro.write_text(f'{first}open("{root / "in" / case.image}");\n'
                     f'run("{case.command}", "{ijbridge.options_string(**opts)}");\n'
                     f'print("{ijrun.END_MARK}");\n')
    return macro, out


def check_case(case, *, failed: bool, log: str, out: Path, harness_failure: str | None) -> None:
    """The assertions both launchers share; ``failed`` is what the launcher reported for the run."""
    leftovers = sorted(p.name for p in out.parent.iterdir() if p != out)
    assert not leftovers, f"{case.name}: stray files beside the output: {leftovers}"
    if case.outcome == "ok":
        assert not failed and harness_failure is None, f"{case.name} failed:\n{harness_failure or log}"
        assert out.is_file(), f"{case.name}: no output written\n{log}"
        assert not STACK_LINE.search(log), f"{case.name}: stack trace in the log\n{log}"
        return
    assert failed, f"{case.name}: the run did not fail\n{log}"
    assert not out.exists(), f"{case.name}: a failed run left its output {out}"
    assert ijrun.END_MARK not in log, f"{case.name}: the macro went on after the failure\n{log}"
    if case.outcome == "plugin" or case.expect.startswith("No image"):
        lines = [ln for ln in log.splitlines() if PLUGIN_LINE.match(ln)]
        assert len(lines) == 1, f"{case.name}: expected one 'fluorecon <command>: …' line\n{log}"
        assert re.search(case.expect, lines[0]), f"{case.name}: {lines[0]!r} does not match {case.expect!r}"
        if case.outcome == "plugin":
            assert not STACK_LINE.search(log), f"{case.name}: stack trace for an expected error\n{log}"
    else:  # the opener failed before the plugin ran: the harness names it
        assert re.search(case.expect, harness_failure or ""), f"{case.name}: harness said {harness_failure!r}"


@pytest.fixture(scope="module")
def headless_runs(imagej_dir, matrix):
    """Every case's macro in one headless JVM: {case name: (aborted?, its log, output path)}."""
    macros, outs = [], {}
    for case in CASES:
        macro, outs[case.name] = write_macro(matrix, case, "headless")
        macros.append(macro)
    run = ijrun.run(ijrun.headless_command(imagej_dir, macros, heap="1g", extra=jvm_options(matrix)), what="headless matrix",
                    timeout=240)
    assert not run.timed_out, run.failure()
    results, pending = {}, []
    status = re.compile(r"^HeadlessMacro: (.*\.ijm): (done|aborted: (.*))$")
    for line in run.log.splitlines():
        m = status.match(line)
        if m is None:
            pending.append(line)
            continue
        name = Path(m.group(1)).stem.removeprefix("headless-")
        results[name] = (m.group(2) != "done", "\n".join(pending), outs[name], m.group(3))
        pending = []
    assert sorted(results) == sorted(c.name for c in CASES), run.log
    return run, results


def test_headless_runner_exits_nonzero_when_a_macro_failed(headless_runs):
    run, _ = headless_runs
    assert run.returncode == 1, run.failure()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_headless_macro(headless_runs, case):
    _, results = headless_runs
    aborted, log, out, why = results[case.name]
    harness = f"headless macro aborted: {why}" if aborted else None
    if case.outcome == "opener" and why and "OutOfMemoryError" in why:
        harness = f"{why} (ImageJ's opener, before the plugin ran)"
    check_case(case, failed=aborted, log=log, out=out, harness_failure=harness)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_batch_macro_under_xvfb(imagej_dir, xvfb_run, matrix, case):
    macro, out = write_macro(matrix, case, "xvfb")
    run = ijrun.run(ijrun.xvfb_batch_command(imagej_dir, macro, heap="1g", extra=jvm_options(matrix)), what=f"ImageJ -batch {case.name}",
                    timeout=60, watch_dialogs=True)
    assert not run.timed_out and run.dialog is None, run.failure()
    failure = run.failure()
    if case.outcome == "plugin" or case.expect.startswith("No image"):
        assert run.returncode == 1, failure  # the plugin ended ImageJ's -batch run with status 1
    check_case(case, failed=failure is not None, log=run.log, out=out, harness_failure=failure)


def test_harness_stops_a_run_waiting_on_a_modal_dialog(imagej_dir, xvfb_run, matrix):
    """A macro error after a failed open() opens ImageJ's modal "No Image" dialog under Xvfb: the
    harness must end the run with the dialog's title, not wait for its timeout."""
    macro = matrix / "macros" / "dialog.ijm"
    macro.write_text(f'open("{matrix / "in" / "empty.tif"}");\nprint(getTitle());\n')
    run = ijrun.run(ijrun.xvfb_batch_command(imagej_dir, macro), what="ImageJ -batch dialog.ijm", timeout=120,
                    watch_dialogs=True)
    assert run.dialog == "No Image", run.failure()
    assert run.seconds < 60
    assert "modal dialog 'No Image'" in run.failure()
