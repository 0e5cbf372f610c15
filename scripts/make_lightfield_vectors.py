"""Write tests/vectors/lightfield_views.json: a small rectified light field and its sub-aperture
views as channels (fluorecon.tasks.lightfield.learned.views_as_channels). pytest and JUnit
(LightFieldViewsTest) both read it, so Python's and Java's view extraction stay the same.

Usage: python scripts/make_lightfield_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from fluorecon.tasks.lightfield.learned import views_as_channels

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "tests" / "vectors")


def main() -> None:
    nnum, ny, nx = 5, 3, 4  # not square, so swapped axes would show
    rng = np.random.default_rng(7)
    lf = rng.integers(0, 1000, size=(ny * nnum, nx * nnum)).astype(np.float32)
    views = views_as_channels(lf, nnum=nnum)
    vector = {
        "description": "views[v*nnum+u, i, j] = lf[i*nnum+v, j*nnum+u]; lf row-major (height, width), views "
                       "row-major (nnum*nnum, lenslets_y, lenslets_x)",
        "nnum": nnum, "height": ny * nnum, "width": nx * nnum, "lenslets_y": ny, "lenslets_x": nx,
        "lf": lf.ravel().tolist(), "views": views.ravel().tolist(),
    }
    vector["rectify"] = rectify_case()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lightfield_views.json").write_text(json.dumps(vector))
    print(f"wrote {OUT / 'lightfield_views.json'}")


def rectify_case() -> dict:
    """A raw image on a rotated, non-integer lenslet grid and its rectification (Java's LensletGrid.rectify)."""
    from fluorecon.tasks.lightfield.calibration import LensletGrid, rectify

    rng = np.random.default_rng(11)
    raw = rng.uniform(0, 100, size=(23, 29)).astype(np.float32)
    grid = LensletGrid(pitch_px=5.6, rotation_deg=3.5, origin_yx_px=(3.1, 2.7), n_lenslets=(3, 4), nnum=5,
                       image_shape=raw.shape)
    out = rectify(raw, grid)
    return {"grid": json.loads(grid.model_dump_json()), "raw": raw.ravel().tolist(), "height": raw.shape[0],
            "width": raw.shape[1], "rectified": out.ravel().tolist(), "rectified_height": out.shape[0],
            "rectified_width": out.shape[1]}


if __name__ == "__main__":
    main()
