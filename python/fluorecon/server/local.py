"""Local-path jobs (issue 15 §3): for a file too large to upload, a client on the same machine names the input
and output paths instead. The server reads and writes them under its own user's permissions (the user who
started it), after the token; every path is checked before the job is queued, with a 4xx that says what to fix.
The job then runs block by block (core.blocks) from the lazy input straight into the output (OME-Zarr or ImageJ
TIFF, renamed into place when complete); nothing is copied into the server's data folder."""

from __future__ import annotations

import os
from pathlib import Path

from fluorecon.core.io import TiffError, image_format

__all__ = ["LocalPathRefused", "check_local_paths", "LOCAL_FILE"]

LOCAL_FILE = "local.json"  # in the job's folder: {"input_path": …, "output_path": …}


class LocalPathRefused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_local_paths(input_path: str, output_path: str) -> tuple[Path, Path]:
    """The two paths, resolved, or LocalPathRefused (422: not usable as given; 403: permissions)."""
    try:
        return _check(input_path, output_path)
    except (OSError, ValueError) as err:  # a NUL byte, a name too long, a loop of links…
        if isinstance(err, LocalPathRefused):
            raise
        raise LocalPathRefused(422, f"The paths cannot be used on the server's machine ({err}).") from None


def _check(input_path: str, output_path: str) -> tuple[Path, Path]:
    paths = []
    for what, text in (("input_path", input_path), ("output_path", output_path)):
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise LocalPathRefused(422, f"{what} must be an absolute path on the server's machine, got '{text}'.")
        paths.append(path)
    source, target = paths
    if image_format(source) == "zarr" and not source.is_dir() or image_format(source) != "zarr" and not source.is_file():
        raise LocalPathRefused(422, f"input_path: {source} does not exist (or is not an image file / OME-Zarr "
                               "folder) on the server's machine.")
    if not os.access(source, os.R_OK) or (source.is_dir() and not os.access(source, os.X_OK)):
        raise LocalPathRefused(403, f"input_path: {source} is not readable by the user running the server.")
    if image_format(target) not in ("zarr", "tiff"):
        raise LocalPathRefused(422, f"output_path: {target.name} must end in .zarr (OME-Zarr) or .tif (ImageJ "
                               "TIFF, opened as a virtual stack).")
    folder = target.parent
    if not folder.is_dir():
        raise LocalPathRefused(422, f"output_path: the folder {folder} does not exist; create it first.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LocalPathRefused(403, f"output_path: the folder {folder} is not writable by the user running the "
                               "server.")
    if target.resolve() == source.resolve():
        raise LocalPathRefused(422, "output_path is the input itself; choose another name, the input is never "
                               "overwritten.")
    from fluorecon.core.streaming import open_lazy

    try:
        with open_lazy(source):
            pass
    except TiffError as err:
        raise LocalPathRefused(422, f"input_path: {err}") from None
    return source.resolve(), folder.resolve() / target.name
