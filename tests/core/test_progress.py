"""CLI progress off a terminal (a log, a pipe): separate lines, a few at most, never `1/10002/1000…` on one
line (issue 11 §4); on a terminal, tqdm's redrawn bar."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import tifffile
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.progress import LOG_INTERVAL_S, progress_bar, progress_callback


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_progress_is_a_few_whole_lines():
    out = io.StringIO()
    started = time.monotonic()
    for _ in progress_bar(range(5000), desc="training", file=out, leave=False):
        pass
    elapsed = time.monotonic() - started
    text = out.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert all(line.startswith("training: ") for line in lines), lines
    assert "5000/5000" in lines[-1]  # the final state stays in the log, even with leave=False
    assert len(lines) <= 2 + elapsed / LOG_INTERVAL_S  # the start, one every LOG_INTERVAL_S s, the end


def test_off_a_terminal_another_open_bar_adds_no_cursor_moves():
    """Seen in a full run: a bar left open elsewhere in the process made tqdm stack this one below it,
    writing cursor-up escapes into the log."""
    from tqdm import tqdm

    other = tqdm(total=10, file=io.StringIO())
    try:
        out = io.StringIO()
        for _ in progress_bar(range(100), desc="training", file=out, leave=False):
            pass
    finally:
        other.close()
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue() and all(line.startswith("training: ") for line in lines), lines


def test_on_a_terminal_the_bar_is_redrawn_in_place():
    out = _Terminal()
    for _ in progress_bar(range(50), desc="training", file=out, mininterval=0, miniters=1):
        pass
    assert out.getvalue().count("\r") >= 50


def test_deconvolve_cli_progress_in_a_log(tmp_path):
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32) * 100
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, image, imagej=True, metadata={"axes": "YX", "unit": "micron"}, resolution=(10.0, 10.0))
    result = CliRunner().invoke(app, ["deconvolve", str(src), str(tmp_path / "out.tif"), "--method", "rl",
                                      "--num-iter", "30", "--na", "1.2", "--wavelength-nm", "520", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "\r" not in result.stderr and "1/302/30" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("deconvolve")]
    assert lines and re.search(r"\b30/30\b", lines[-1]), result.stderr


def test_progress_callback_closes_at_the_total():
    out = io.StringIO()
    progress = progress_callback("rl", unit=" iterations", file=out)
    for done in (1, 2, 3, 3):  # a remote job may report its end twice
        progress(done, 3)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("rl: 100%") and "3/3" in lines[-1]
    assert sum("3/3" in line for line in lines) == 1
