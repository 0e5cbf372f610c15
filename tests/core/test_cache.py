"""The disk cache (fluorecon.core.cache): one documented location, a size cap with least-recently-used
eviction, and `fluorecon cache list|clear`. Issue 11 §4: one set of optics wrote 1.34 GB silently."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core import cache
from fluorecon.tasks.lightfield.psf import LightFieldOptics, lightfield_psf, psf_cache_dir

SMALL = LightFieldOptics(nnum=5, lenslet_pitch_um=50, lenslet_focal_um=1000, z_min_um=0, z_max_um=0,
                         psf_radius_lenslets=1)


def _file(path, size, age_s):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_location_is_fluorecon_cache_dir_else_xdg_else_home(monkeypatch, tmp_path):
    monkeypatch.delenv("FLUORECON_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "fluorecon"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "fluorecon"
    monkeypatch.setenv("FLUORECON_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_root() == tmp_path / "mine"
    assert psf_cache_dir() == tmp_path / "mine" / "lightfield"


def test_cap_removes_least_recently_used_first_and_keeps_the_new_entry(tmp_path):
    old = _file(tmp_path / "lightfield" / "old.npy", 400, age_s=300)
    mid = _file(tmp_path / "lightfield" / "mid.npy", 400, age_s=200)
    new = _file(tmp_path / "other" / "new.npy", 400, age_s=100)
    _file(tmp_path / "lightfield" / "x.npy.tmp", 10_000, age_s=400)  # being written: neither counted nor removed
    assert [e.path for e in cache.entries(tmp_path)] == [new, mid, old]
    assert cache.enforce_cap(tmp_path, limit=1200) == []
    assert cache.enforce_cap(tmp_path, limit=800) == [old]
    cache.touch(mid)  # used now: the most recent
    assert cache.enforce_cap(tmp_path, limit=400) == [new]
    assert cache.enforce_cap(tmp_path, limit=0, keep=mid) == []  # the entry just written stays
    assert [e.path for e in cache.entries(tmp_path)] == [mid]
    assert (tmp_path / "lightfield" / "x.npy.tmp").is_file()


def test_lightfield_psf_cache_is_capped_lru(monkeypatch, tmp_path):
    monkeypatch.setenv("FLUORECON_CACHE_DIR", str(tmp_path))
    optics = {"a": SMALL, "b": SMALL.model_copy(update={"wavelength_nm": 600.0}),
              "c": SMALL.model_copy(update={"wavelength_nm": 650.0})}
    path = {k: tmp_path / "lightfield" / f"lfpsf-{o.cache_key()}.npy" for k, o in optics.items()}
    psf_a = lightfield_psf(optics["a"], device="cpu")
    lightfield_psf(optics["b"], device="cpu")
    size = path["a"].stat().st_size
    assert path["b"].stat().st_size == size
    for k, age in (("a", 200), ("b", 100)):  # a written first, b later
        t = time.time() - age
        os.utime(path[k], (t, t))
    np.testing.assert_array_equal(lightfield_psf(optics["a"], device="cpu"), psf_a)  # a read: now the most recent
    monkeypatch.setenv("FLUORECON_CACHE_MAX_MB", str(2.5 * size / 1024**2))  # room for two
    lightfield_psf(optics["c"], device="cpu")
    assert path["a"].is_file() and path["c"].is_file() and not path["b"].exists()
    monkeypatch.setenv("FLUORECON_CACHE_MAX_MB", "0")  # nothing but the entry just made
    lightfield_psf(optics["b"], device="cpu")
    assert sorted(p.name for p in (tmp_path / "lightfield").iterdir()) == [path["b"].name]


def test_bad_cap_says_what_to_set(monkeypatch):
    monkeypatch.setenv("FLUORECON_CACHE_MAX_MB", "lots")
    with pytest.raises(ValueError, match="FLUORECON_CACHE_MAX_MB is 'lots', not a number of MiB"):
        cache.max_bytes()


def test_cache_list_and_clear_from_the_cli(tmp_path):
    runner = CliRunner()
    env = {"FLUORECON_CACHE_DIR": str(tmp_path), "FLUORECON_CACHE_MAX_MB": "100"}
    _file(tmp_path / "lightfield" / "lfpsf-a.npy", 2 * 1024**2, age_s=7200)
    _file(tmp_path / "lightfield" / "lfpsf-b.npy", 1024**2, age_s=120)
    listed = runner.invoke(app, ["cache", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0] == f"Cache: {tmp_path} (set FLUORECON_CACHE_DIR to move it)"
    assert lines[1].split() == ["1.0", "MiB", "2", "min", "ago", "lightfield/lfpsf-b.npy"]
    assert lines[2].split() == ["2.0", "MiB", "2", "h", "ago", "lightfield/lfpsf-a.npy"]
    assert lines[3].startswith("2 file(s), 3.0 MiB of at most 100.0 MiB")
    cleared = runner.invoke(app, ["cache", "clear"], env=env)
    assert cleared.exit_code == 0 and cleared.output == f"Removed 2 file(s), 3.0 MiB, from {tmp_path}.\n"
    assert list(tmp_path.iterdir()) == []
    assert runner.invoke(app, ["cache", "list"], env=env).output.splitlines()[1].startswith("0 file(s), 0.0 MiB")
    bad = runner.invoke(app, ["cache", "list"], env={**env, "FLUORECON_CACHE_MAX_MB": "-1"})
    assert bad.exit_code == 2 and "FLUORECON_CACHE_MAX_MB is -1; it must be 0 or more MiB." in bad.output
    assert "Traceback" not in bad.output
