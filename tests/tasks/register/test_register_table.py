"""Drift correction of a localisation table that keeps its columns (fluorecon.tasks.register.table):
RCC within 5 nm RMS, columns and CSV text kept, the hi/lo packing the server job uses, errors."""

import numpy as np
import pytest
from typer.testing import CliRunner

from fluorecon.cli import app
from fluorecon.core.io import TiffMeta
from fluorecon.tasks.register.physics import simulate_drifting_localizations
from fluorecon.tasks.register import table as RT

COLUMNS = ["id", "frame", "x [nm]", "y [nm]", "intensity [photon]", "chi2"]


def _table(n_frames=1500, seed=5):
    locs, drift = simulate_drifting_localizations(n_frames=n_frames, drift_nm=100, seed=seed)
    n = len(locs["frame"])
    rng = np.random.default_rng(seed)
    values = np.column_stack([np.arange(1, n + 1), locs["frame"] + 1, locs["x_nm"], locs["y_nm"],
                              rng.uniform(500, 3000, n).round(1), np.full(n, np.nan)])
    return values, drift, locs


def test_table_drift_within_5_nm_rms_and_other_columns_kept():
    values, drift, locs = _table()
    corrected, estimate = RT.correct_table_drift(values, COLUMNS, segments=10)
    assert estimate.shape == drift.shape
    rms = float(np.sqrt(np.mean(np.sum((estimate - drift) ** 2, axis=1))))
    assert rms < 5.0, rms
    np.testing.assert_array_equal(corrected[:, [0, 1, 4]], values[:, [0, 1, 4]])
    assert np.isnan(corrected[:, 5]).all()
    truth_x = locs["x_nm"] - drift[locs["frame"], 0]
    assert np.sqrt(np.mean((corrected[:, 2] - truth_x) ** 2)) < 5.0


def test_csv_round_trip_and_cli_keep_columns(tmp_path):
    values, _, _ = _table(n_frames=800, seed=6)
    RT.write_table_csv(tmp_path / "in.csv", values, COLUMNS)
    text = (tmp_path / "in.csv").read_text().splitlines()
    assert text[0] == ",".join(f'"{c}"' for c in COLUMNS) and text[1].startswith("1,1,") and text[1].endswith(",NaN")
    back, columns = RT.read_table_csv(tmp_path / "in.csv")
    assert columns == COLUMNS
    np.testing.assert_allclose(back, values, rtol=1e-6, equal_nan=True)
    r = CliRunner().invoke(app, ["register-table", str(tmp_path / "in.csv"), str(tmp_path / "out.csv"),
                                 "--segments", "8", "--drift-csv", str(tmp_path / "drift.csv")])
    assert r.exit_code == 0, r.output
    out, out_columns = RT.read_table_csv(tmp_path / "out.csv")
    expected, drift = RT.correct_table_drift(back, columns, segments=8)
    assert out_columns == COLUMNS
    np.testing.assert_allclose(out, expected, rtol=1e-6, equal_nan=True)
    assert np.loadtxt(tmp_path / "drift.csv", delimiter=",", skiprows=1).shape == (800, 3)


def test_packing_restores_float64_and_job_equals_function():
    values, _, _ = _table(n_frames=600, seed=7)
    packed = RT.pack_table(values)
    assert packed.dtype == np.float32 and packed.shape == (2, *values.shape)
    restored = RT.unpack_table(packed)
    finite = np.isfinite(values)
    assert np.abs(restored[finite] - values[finite]).max() <= 2.0**-47 * np.abs(values).max(initial=0, where=finite)
    spec = RT.RegisterTableSpec(columns=COLUMNS, segments=6)
    out, axes, info, message = RT.run_job(packed, TiffMeta(axes="CYX"), spec)
    expected, drift = RT.correct_table_drift(values, COLUMNS, segments=6)
    np.testing.assert_allclose(RT.unpack_table(out), expected, rtol=1e-13, atol=1e-9, equal_nan=True)
    assert "drift_nm = [[0.0, 0.0]," in info and f"{len(values)} localisations" in message


def test_errors_say_what_to_fix():
    values, _, _ = _table(n_frames=300, seed=8)
    with pytest.raises(ValueError, match="no 'x \\[nm\\]' column"):
        RT.correct_table_drift(values[:, [0, 1, 3]], ["id", "frame", "y [nm]"])
    bad = values.copy()
    bad[0, 1] = 0
    with pytest.raises(ValueError, match="whole frame numbers from 1"):
        RT.correct_table_drift(bad, COLUMNS)
    spec = RT.RegisterTableSpec(columns=COLUMNS, segments=500)
    with pytest.raises(ValueError, match="300 frames cannot be cut into segments=500"):
        RT.check_job(RT.pack_table(values), "CYX", spec)
    with pytest.raises(ValueError, match="spec.columns names 6"):
        RT.check_job(RT.pack_table(values[:, :4]), "CYX", spec)
