"""`fluorecon cache list` / `fluorecon cache clear`: what fluorecon keeps on disk to save recomputation
(light-field PSFs), where it lives and how big it may grow (fluorecon.core.cache)."""

from __future__ import annotations

import time

import typer

app = typer.Typer(help="fluorecon's disk cache (light-field PSFs): list it with sizes, or clear it.",
                  no_args_is_help=True)


def _mb(n: int) -> str:
    return f"{n / 1024**2:.1f} MiB"


def _limit() -> int:
    from fluorecon.core import cache

    try:
        return cache.max_bytes()
    except ValueError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from None


@app.command("list")
def list_command() -> None:
    """Every cached file with its size and last use (most recent first), the total and the cap."""
    from fluorecon.core import cache

    root, limit = cache.cache_root(), _limit()
    listed = cache.entries(root)
    now = time.time()
    typer.echo(f"Cache: {root} (set FLUORECON_CACHE_DIR to move it)")
    for entry in listed:
        typer.echo(f"{_mb(entry.size):>12}  {cache.age_text(now - entry.last_used):>12}  "
                   f"{entry.path.relative_to(root)}")
    total = sum(e.size for e in listed)
    typer.echo(f"{len(listed)} file(s), {_mb(total)} of at most {_mb(limit)} "
               "(FLUORECON_CACHE_MAX_MB; the least recently used files are removed above it).")


@app.command("clear")
def clear_command() -> None:
    """Remove every cached file; anything needed again is recomputed."""
    from fluorecon.core import cache

    root = cache.cache_root()
    count, size = cache.clear(root)
    typer.echo(f"Removed {count} file(s), {_mb(size)}, from {root}.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cache")
