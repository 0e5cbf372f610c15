"""Run ImageJ macros for the project's harness (scripts/demo.py, tests/bridge) without ever hanging.

Two launchers, as DESIGN.md describes: plain ImageJ's ``-batch`` under Xvfb, and headless through
ij1-patcher (``scripts/HeadlessMacro.java``). Every run has a timeout; the process group (xvfb-run,
Xvfb, java) is killed when it ends, so no orphan keeps the pipes open. Under Xvfb nobody can close a
modal dialog, so the run is watched: a dialog that appears (ImageJ's "Macro Error", an IJ.error
message box) ends the run at once with its title in the failure message, instead of waiting for
the timeout. :meth:`Run.failure` says in one paragraph why a run did not succeed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what the marker line of a macro that reached its end looks like (the harness's macros print it)
END_MARK = "[harness] macro reached its end"
_STATUS_MARK = "[harness] java exit status "
# top-level X windows that AWT makes without anything being shown
_AWT_WINDOWS = re.compile(r"^(sun-awt-|FocusProxy|ij-ImageJ$|Content window$)")


@dataclass
class Run:
    what: str  # e.g. "ImageJ -batch under Xvfb: denoise.ijm"
    returncode: int | None  # None when the harness killed it
    log: str
    seconds: float
    timeout: float
    timed_out: bool = False
    dialog: str | None = None  # title of the modal dialog ImageJ was waiting on, when one was seen

    @property
    def reached_end(self) -> bool:
        return END_MARK in self.log

    def failure(self, *, expect_end: bool = True) -> str | None:
        """Why the run did not succeed (None when it exited 0 and, with ``expect_end``, printed END_MARK)."""
        lines = [ln for ln in self.log.strip().splitlines() if not re.match(r"\s+at |\s*\.\.\. \d+ more", ln)]
        tail = "\n".join(lines[-12:])
        if self.dialog is not None:
            return (f"{self.what}: ImageJ opened a modal dialog '{self.dialog}' after {self.seconds:.0f} s; under "
                    f"Xvfb nobody can close it, so the harness stopped the run. Log:\n{tail}")
        if self.timed_out:
            return (f"{self.what}: no result within the harness's timeout of {self.timeout:.0f} s (a modal "
                    f"dialog, or work far slower than expected); the run was killed. Log:\n{tail}")
        if self.returncode != 0:
            return f"{self.what}: exit status {self.returncode}. Log:\n{tail}"
        if expect_end and not self.reached_end:
            return (f"{self.what}: ImageJ exited 0 but the macro stopped before its end (ImageJ's -batch launcher "
                    f"exits 0 whatever happened, e.g. when its opener ran out of memory). Log:\n{tail}")
        return None


def classpath(imagej: Path, *, patcher: bool = False) -> str:
    imagej = Path(imagej)
    jars = [imagej / "ij.jar", imagej / "plugins" / "fluorecon_.jar", *sorted((imagej / "jars").glob("*.jar"))]
    if patcher:
        jars += sorted((imagej / "patcher").glob("*.jar"))
    return ":".join(str(j) for j in jars)


def xvfb_batch_command(imagej: Path, macro: Path, arg: str | None = None, *, heap: str = "1g",
                       extra: tuple[str, ...] = ()) -> list[str]:
    """``ij.ImageJ -batch MACRO [ARG]`` under ``xvfb-run`` (ImageJ1's menus need a display)."""
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        raise RuntimeError("xvfb-run not found: ImageJ1's menus need a display; install it with `make setup` "
                           "(apt-get install -y xvfb).")
    java = ["java", f"-Xmx{heap}", *extra, f"-Dplugins.dir={imagej}", f"-Dij.dir={imagej}",
            "-cp", classpath(imagej), "ij.ImageJ", "-ijpath", str(imagej), "-batch", str(macro)]
    # xvfb-run answers 5 instead of the JVM's status when its own clean-up fails (seen here under load),
    # so the JVM's status is printed and read back (Run.returncode)
    wrapper = f'"$@"; status=$?; echo "{_STATUS_MARK}$status"; exit $status'
    return [xvfb, "-a", "sh", "-c", wrapper, "sh", *java, *([arg] if arg is not None else [])]


def headless_command(imagej: Path, macros: list[Path], arg: str | None = None, *, heap: str = "1g",
                     extra: tuple[str, ...] = ()) -> list[str]:
    """``HeadlessMacro.java`` through ij1-patcher: one macro (with ARG) or, given several, ``--each``."""
    base = ["java", "--add-opens=java.base/java.lang=ALL-UNNAMED", "-Djava.awt.headless=true", f"-Xmx{heap}",
            *extra, f"-Dplugins.dir={imagej}", f"-Dij.dir={imagej}", "-cp", classpath(imagej, patcher=True),
            str(ROOT / "scripts" / "HeadlessMacro.java")]
    if len(macros) == 1:
        return base + [str(macros[0])] + ([arg] if arg is not None else [])
    return base + ["--each", *map(str, macros)]


def run(cmd: list[str], *, what: str, timeout: float, watch_dialogs: bool = False, cwd: Path | None = None) -> Run:
    """Run ``cmd`` in its own process group; kill the group at ``timeout`` or when a dialog appears."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True, cwd=cwd)
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(proc.stdout), daemon=True)
    reader.start()
    timed_out, dialog = False, None
    while True:
        try:
            proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            pass
        if watch_dialogs:
            dialog = _dialog_title(proc.pid)
            if dialog is not None:
                break
        if time.monotonic() - start > timeout:
            timed_out = True
            break
    _kill_group(proc)  # also when it exited: xvfb-run's Xvfb or a stray java child may outlive the launcher
    reader.join(timeout=10)
    log = "".join(chunks)
    returncode = proc.returncode
    reported = re.findall(rf"^{re.escape(_STATUS_MARK)}(\d+)$", log, re.M)
    if reported:
        returncode = int(reported[-1])
        log = re.sub(rf"^{re.escape(_STATUS_MARK)}\d+\n?", "", log, flags=re.M)
        log = log.replace("xvfb-run: error: problem while cleaning up temporary directory\n", "")
    return Run(what=what, returncode=None if (timed_out or dialog) else returncode, log=log,
               seconds=time.monotonic() - start, timeout=timeout, timed_out=timed_out, dialog=dialog)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _session_members(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid:  # fields after the name: state ppid pgrp session ...
            pids.append(int(entry.name))
    return pids


def _dialog_title(sid: int) -> str | None:
    """Title of a window a process of session ``sid`` shows on its (Xvfb) display, if any."""
    if shutil.which("xwininfo") is None:
        return None
    seen = set()
    for pid in _session_members(sid):
        try:
            env = dict(line.split("=", 1) for line in Path(f"/proc/{pid}/environ").read_text(errors="replace")
                       .split("\0") if "=" in line)
        except OSError:
            continue
        if "DISPLAY" not in env or env["DISPLAY"] in seen:
            continue
        seen.add(env["DISPLAY"])
        x_env = {"PATH": os.environ.get("PATH", ""), "DISPLAY": env["DISPLAY"]}
        if "XAUTHORITY" in env:
            x_env["XAUTHORITY"] = env["XAUTHORITY"]
        try:
            out = subprocess.run(["xwininfo", "-root", "-children"], capture_output=True, text=True, env=x_env,
                                 timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for match in re.finditer(r'^\s+0x[0-9a-f]+ "(.*)": \(.*\)\s+(\d+)x(\d+)', out, re.M):
            name, w, h = match.group(1), int(match.group(2)), int(match.group(3))
            if not _AWT_WINDOWS.match(name) and w > 1 and h > 1:
                return name
    return None
