"""`fluorecon bench`: run the side-by-side benchmarks in the repository's bench/ folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import typer

BENCHES = ("predict", "deconvolve", "localize", "superres", "unmix", "register")


def _bench_dir() -> Path:
    # bench/ lives beside python/ in a checkout; the installed package does not carry it.
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / "bench" / "predict.py").is_file():
            return base / "bench"
    raise typer.BadParameter("No bench/ folder found: run `fluorecon bench` from a fluorecon checkout (or use `make bench`).")


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(names: Optional[List[str]] = typer.Argument(None, help=f"Which benchmarks: {', '.join(BENCHES)} (default all).")) -> None:
        """Run benchmarks side by side with the peers; figures go to bench/results/*.json and *.md."""
        chosen = names or list(BENCHES)
        unknown = [n for n in chosen if n not in BENCHES]
        if unknown:
            raise typer.BadParameter(f"Unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHES)}.")
        folder = _bench_dir()
        for name in chosen:
            typer.echo(f"== bench {name}")
            code = subprocess.call([sys.executable, str(folder / f"{name}.py")], cwd=folder.parent)
            if code:
                raise typer.Exit(code)
