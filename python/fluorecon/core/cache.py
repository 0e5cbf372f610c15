"""fluorecon's disk cache: one documented place, a size cap, least-recently-used eviction.

Location: ``$FLUORECON_CACHE_DIR``, else ``$XDG_CACHE_HOME/fluorecon``, else ``~/.cache/fluorecon``;
one subfolder per kind of entry (``lightfield/`` holds wave-optics light-field PSFs). Cap:
``$FLUORECON_CACHE_MAX_MB`` (default 4096 MiB) for the whole folder. An entry's modification time is
its last use (set when it is written and each time it is read), so the cap removes the entries unused
longest; the entry just written is kept even when it alone is over the cap. ``fluorecon cache list``
shows the entries, ``fluorecon cache clear`` removes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_MB = 4096


def cache_root() -> Path:
    """``$FLUORECON_CACHE_DIR``, else ``$XDG_CACHE_HOME/fluorecon``, else ``~/.cache/fluorecon``."""
    if os.environ.get("FLUORECON_CACHE_DIR"):
        return Path(os.environ["FLUORECON_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fluorecon"


def cache_dir(kind: str) -> Path:
    """The folder of one kind of entry, e.g. ``cache_dir("lightfield")`` (not created here)."""
    return cache_root() / kind


def max_bytes() -> int:
    """The cap in bytes: ``$FLUORECON_CACHE_MAX_MB`` MiB (default 4096)."""
    value = os.environ.get("FLUORECON_CACHE_MAX_MB", "")
    try:
        mb = float(value) if value else DEFAULT_MAX_MB
    except ValueError:
        raise ValueError(f"FLUORECON_CACHE_MAX_MB is '{value}', not a number of MiB; set it to e.g. 4096.") from None
    if mb < 0:
        raise ValueError(f"FLUORECON_CACHE_MAX_MB is {value}; it must be 0 or more MiB.")
    return int(mb * 1024**2)


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int
    last_used: float  # seconds since the epoch


def entries(root: Path | None = None) -> list[Entry]:
    """Every file in the cache, the most recently used first (files being written, ``*.tmp``, excluded)."""
    root = Path(root) if root is not None else cache_root()
    found = []
    for path in root.rglob("*") if root.is_dir() else ():
        if path.suffix == ".tmp":
            continue
        try:
            st = path.stat()
        except FileNotFoundError:  # removed by another process meanwhile
            continue
        if path.is_file():
            found.append(Entry(path, st.st_size, st.st_mtime))
    return sorted(found, key=lambda e: (e.last_used, str(e.path)), reverse=True)


def touch(path: Path) -> None:
    """Marks an entry as used now."""
    try:
        os.utime(path)
    except OSError:  # read-only cache or removed meanwhile: LRU order is only a preference
        pass


def enforce_cap(root: Path | None = None, *, keep: Path | None = None, limit: int | None = None) -> list[Path]:
    """Removes the least recently used entries until the cache is within ``limit`` bytes (default
    :func:`max_bytes`); ``keep`` is never removed. Returns the removed paths."""
    limit = max_bytes() if limit is None else limit
    listed = entries(root)
    total = sum(e.size for e in listed)
    removed = []
    for entry in reversed(listed):  # least recently used first
        if total <= limit:
            break
        if keep is not None and entry.path == Path(keep):
            continue
        try:
            entry.path.unlink()
        except FileNotFoundError:
            pass
        total -= entry.size
        removed.append(entry.path)
    return removed


def clear(root: Path | None = None) -> tuple[int, int]:
    """Removes every cache file (also stale ``*.tmp``) and empty subfolders; returns (files, bytes)."""
    root = Path(root) if root is not None else cache_root()
    count = size = 0
    if not root.is_dir():
        return 0, 0
    for path in sorted(root.rglob("*"), reverse=True):  # files before their folders
        try:
            if path.is_dir():
                path.rmdir()
                continue
            n = path.stat().st_size
            path.unlink()
        except OSError:  # a folder not empty (a file being written), or removed meanwhile
            continue
        count, size = count + 1, size + n
    return count, size


def age_text(seconds_ago: float) -> str:
    """'just now', '5 min ago', '3 h ago', '2 days ago'."""
    s = max(0.0, seconds_ago)
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{s / 60:.0f} min ago"
    if s < 86400:
        return f"{s / 3600:.0f} h ago"
    return f"{s / 86400:.0f} days ago"
