"""Progress bars for the command line: a tqdm bar on a terminal; where the stream is not a terminal (a
log file, a pipe, a batch job) the same bar as plain lines, at most one every ``LOG_INTERVAL_S`` seconds
plus the last, never carriage returns that pile up on one line."""

from __future__ import annotations

import re
import sys

LOG_INTERVAL_S = 10.0
#: Cursor movements tqdm writes to stack several bars on a terminal; a log has no cursor.
_CURSOR_MOVES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _Lines:
    """A file for tqdm that turns each redraw (``\\r`` + status) into one line of its own."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        for part in _CURSOR_MOVES.sub("", text).replace("\r", "\n").split("\n"):
            if part.strip():
                self.stream.write(part.rstrip() + "\n")

    def flush(self) -> None:
        self.stream.flush()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable=None, *, file=None, **kwargs):
    """``tqdm(iterable, **kwargs)`` writing to ``file`` (default stderr). Off a terminal: plain lines at most
    every ``LOG_INTERVAL_S`` s and the final state (``leave`` is then always true: a log keeps its lines)."""
    stream = file if file is not None else sys.stderr
    if _is_terminal(stream):
        from tqdm.auto import tqdm

        return tqdm(iterable, file=stream, **kwargs)
    from tqdm import tqdm

    # position 0: another bar still open in the process (a caller's, a library's) must not push this one down
    kwargs.update(file=_Lines(stream), mininterval=max(kwargs.get("mininterval", 0), LOG_INTERVAL_S),
                  leave=True, ascii=True, ncols=100, position=kwargs.get("position", 0))
    return tqdm(iterable, **kwargs)


def progress_callback(desc: str, unit: str = "it", *, file=None):
    """A ``progress(done, total)`` callback drawing :func:`progress_bar` (made at the first call, when the
    total is known); it closes the bar at ``done == total``."""
    bars = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(progress_bar(total=total, desc=desc, unit=unit, file=file))
        bar = bars[0]
        if bar.disable:  # closed
            return
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress
