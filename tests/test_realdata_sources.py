"""data/realdata/: every committed file has its provenance in sources.json (and vice versa), the
licence and commit are recorded, the set stays small, and the GAT used by bench/realdata.py
inverts its forward transform."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "realdata"


def _bench():
    spec = importlib.util.spec_from_file_location("realdata_bench", ROOT / "bench" / "realdata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_data_file_has_provenance_and_every_entry_a_file():
    entries = json.loads((DATA / "sources.json").read_text())["files"]
    listed = {e["file"] for e in entries}
    on_disk = {str(p.relative_to(ROOT)) for p in DATA.rglob("*") if p.is_file()
               and p.name not in ("SOURCES.md", "sources.json")}
    assert listed == on_disk
    for e in entries:
        assert e["licence"] and e["source"].startswith("https://github.com/") and len(e["commit"]) == 40, e["file"]
        assert e["task"] and e["shows"] and e["crop"], e["file"]
    assert sum((ROOT / f).stat().st_size for f in listed) < 15 * 2**20


def test_every_denoise_input_has_its_reference():
    bench = _bench()
    pairs = bench.pairs_denoise()
    assert len(pairs) == 11
    for _, noisy, ref in pairs:
        assert noisy.is_file() and ref.is_file() and "_avg" in ref.name


def test_generalised_anscombe_round_trip_and_unit_variance():
    bench = _bench()
    rng = np.random.default_rng(0)
    a, sigma = 2.0, 3.0                      # gain (ADU/e-) and read noise (ADU)
    mean_e = np.full((200, 200), 40.0)
    x = a * rng.poisson(mean_e) + rng.normal(0, sigma, mean_e.shape)
    d, s2 = bench.gat_forward(x, a, sigma ** 2)
    assert abs(float(d.std()) - 1.0) < 0.05  # variance stabilised to 1
    back = bench.gat_inverse(np.full_like(d, d.mean()), a, s2)
    assert abs(float(back.mean()) / (a * 40.0) - 1) < 0.02
