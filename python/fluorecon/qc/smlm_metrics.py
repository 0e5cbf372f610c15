"""SMLM localisation metrics in the style of the SMLM Challenge 2016 (Sage et al., "Super-resolution
fight club", Nat. Methods 16, 387 (2019)).

Per frame, ground truth and localisations are paired by the Hungarian algorithm
(scipy.optimize.linear_sum_assignment) on their lateral distance, pairs farther apart than
``radius_nm`` (and, in 3D, axially farther than ``axial_radius_nm``) are not matches. Then:
Jaccard = TP / (TP + FP + FN), recall, precision, lateral/axial RMSE over the matches, and the
challenge's efficiency ``E = 1 − sqrt((1 − J)² + α²·RMSE²)`` with α = 0.01 / nm lateral and
0.005 / nm axial (the challenge's 1 %/nm and 0.5 %/nm, written as fractions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

ALPHA_LATERAL = 0.01
ALPHA_AXIAL = 0.005


@dataclass
class SMLMScore:
    """Matching figures of a localisation table against ground truth."""

    jaccard: float
    recall: float
    precision: float
    rmse_lateral_nm: float
    rmse_axial_nm: float
    efficiency_lateral: float
    efficiency_axial: float
    tp: int
    fp: int
    fn: int

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def match_localizations(truth: np.ndarray, found: np.ndarray, *, radius_nm: float = 250.0,
                        axial_radius_nm: float | None = None) -> np.ndarray:
    """Pair ground truth and localisations frame by frame (minimum total lateral distance).

    Parameters
    ----------
    truth, found : localisation tables (frame, x_nm, y_nm, z_nm)
    radius_nm : float
        Largest lateral distance of a match.
    axial_radius_nm : float, optional
        Largest axial distance of a match (3D); None ignores z.

    Returns
    -------
    (M, 2) int array of row indices (truth, found) of the matches.
    """
    if radius_nm <= 0:
        raise ValueError(f"radius_nm must be positive, got {radius_nm}.")
    pairs = []
    t_order, f_order = np.argsort(truth["frame"], kind="stable"), np.argsort(found["frame"], kind="stable")
    frames = np.union1d(truth["frame"], found["frame"])
    t_bounds = np.searchsorted(truth["frame"][t_order], frames, side="left"), \
        np.searchsorted(truth["frame"][t_order], frames, side="right")
    f_bounds = np.searchsorted(found["frame"][f_order], frames, side="left"), \
        np.searchsorted(found["frame"][f_order], frames, side="right")
    big = 1e12
    for i in range(len(frames)):
        ti = t_order[t_bounds[0][i]:t_bounds[1][i]]
        fi = f_order[f_bounds[0][i]:f_bounds[1][i]]
        if len(ti) == 0 or len(fi) == 0:
            continue
        dx = truth["x_nm"][ti, None].astype(np.float64) - found["x_nm"][None, fi]
        dy = truth["y_nm"][ti, None].astype(np.float64) - found["y_nm"][None, fi]
        dist = np.hypot(dx, dy)
        allowed = dist <= radius_nm
        if axial_radius_nm is not None:
            allowed &= np.abs(truth["z_nm"][ti, None].astype(np.float64) - found["z_nm"][None, fi]) <= axial_radius_nm
        if not allowed.any():
            continue
        cost = np.where(allowed, dist, big)
        rows, cols = linear_sum_assignment(cost)
        keep = allowed[rows, cols]
        pairs.append(np.column_stack([ti[rows[keep]], fi[cols[keep]]]))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), int)


def score_localizations(truth: np.ndarray, found: np.ndarray, *, radius_nm: float = 250.0,
                        axial_radius_nm: float | None = None) -> SMLMScore:
    """Jaccard, recall, precision, RMSE and efficiency of `found` against `truth` (see the module doc)."""
    pairs = match_localizations(truth, found, radius_nm=radius_nm, axial_radius_nm=axial_radius_nm)
    tp = len(pairs)
    fp, fn = len(found) - tp, len(truth) - tp
    jac = tp / max(tp + fp + fn, 1)
    if tp:
        t, f = truth[pairs[:, 0]], found[pairs[:, 1]]
        d2 = (t["x_nm"].astype(np.float64) - f["x_nm"]) ** 2 + (t["y_nm"].astype(np.float64) - f["y_nm"]) ** 2
        rmse_lat = float(np.sqrt(np.mean(d2)))
        dz = t["z_nm"].astype(np.float64) - f["z_nm"]
        rmse_ax = float(np.sqrt(np.nanmean(dz**2))) if np.isfinite(dz).any() else float("nan")
    else:
        rmse_lat = rmse_ax = float("nan")
    eff_lat = 1 - np.sqrt((1 - jac) ** 2 + (ALPHA_LATERAL * rmse_lat) ** 2) if tp else 0.0
    eff_ax = 1 - np.sqrt((1 - jac) ** 2 + (ALPHA_AXIAL * rmse_ax) ** 2) if tp and np.isfinite(rmse_ax) else float("nan")
    return SMLMScore(jaccard=float(jac), recall=tp / max(tp + fn, 1), precision=tp / max(tp + fp, 1),
                     rmse_lateral_nm=rmse_lat, rmse_axial_nm=rmse_ax, efficiency_lateral=float(eff_lat),
                     efficiency_axial=float(eff_ax), tp=tp, fp=fp, fn=fn)
