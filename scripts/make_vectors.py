"""Generate the shared test vectors in tests/vectors/ (run once; the outputs are committed).

Both pytest (tests/core/test_vectors.py) and JUnit (java-plugin) read these files, so the Python
and Java implementations of tiling, normalization, the model card and tiled ONNX prediction are
held to the same numbers.  Usage: python scripts/make_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from fluorecon.core.io import TiffMeta, write_tiff
from fluorecon.core.modelcard import ModelCard, write_card
from fluorecon.core.normalize import denormalize, normalize, percentile_range
from fluorecon.core.tiling import plan_tiles, predict_tiled, reflect_pad

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "tests" / "vectors")


def dump(name: str, obj) -> None:
    (OUT / name).write_text(json.dumps(obj, indent=1) + "\n")


def tiling_cases() -> list[dict]:
    cases = []
    specs = [
        ((100, 300), 64, 10, 8, 1), ((256, 256), 256, 32, 16, 1), ((1, 7), 16, 4, 4, 1),
        ((5, 3), 64, 8, 8, 2), ((37, 91, 64), (16, 32, 32), (4, 8, 8), 4, 1), ((1000, 30), 96, 40, 16, 1),
        ((64, 64), 8, 2, 8, (2, 2)), ((33, 1, 129), 32, 6, (2, 4, 8), (1, 2, 4)),
    ]
    for shape, tile, halo, multiple, scale in specs:
        plan = plan_tiles(shape, tile=tile, halo=halo, multiple=multiple, scale=scale)
        as_list = lambda v, n=len(shape): list(v) if isinstance(v, (tuple, list)) else [v] * n  # noqa: E731
        cases.append({"shape": list(shape), "tile": as_list(tile), "halo": as_list(halo),
                      "multiple": as_list(multiple), "scale": as_list(scale), "expected": plan.to_dict()})
    return cases


def reflect_cases() -> list[dict]:
    rng = np.random.default_rng(1)
    cases = []
    for length, before, after in [(5, 2, 3), (5, 12, 9), (1, 3, 4), (2, 5, 0), (8, 0, 0), (4, 3, 3)]:
        values = rng.random(length).round(4)
        cases.append({"input": values.tolist(), "pad_before": before, "pad_after": after,
                      "expected": reflect_pad(values, [before], [after]).tolist()})
    return cases


def normalize_cases() -> list[dict]:
    rng = np.random.default_rng(2)
    cases = []
    for n, low, high in [(10, 1.0, 99.8), (1000, 3.0, 99.0), (1, 1.0, 99.8), (257, 0.0, 100.0)]:
        values = (rng.gamma(2.0, 100.0, n)).astype(np.float32)
        lo, hi = percentile_range(values, low, high)
        cases.append({"values": values.tolist(), "low": low, "high": high, "expected_lo": lo, "expected_hi": hi})
    gen = {"kind": "mod", "n": 5_000_000, "a": 7919, "m": 10007}
    values = ((np.arange(gen["n"], dtype=np.int64) * gen["a"]) % gen["m"]).astype(np.float32)
    lo, hi = percentile_range(values, 1.0, 99.8)
    cases.append({"generator": gen, "low": 1.0, "high": 99.8, "expected_lo": lo, "expected_hi": hi})
    return cases


def card(ndim: int, **overrides) -> ModelCard:
    fields = dict(task="denoise", method="care", name=f"tiny-{ndim}d", axes_in="bcyx" if ndim == 2 else "bczyx",
                  axes_out="bcyx" if ndim == 2 else "bczyx", tile_multiple=(4,) * ndim, tile_halo=(8,) * ndim,
                  tile_default=(32,) * ndim, scale=(1,) * ndim, created="2026-11-25T00:00:00+00:00",
                  fluorecon_version="0.1.0", description="test vector: tiny untrained two-level U-Net",
                  train={"data": "none (random weights)", "seed": "0"}, metrics={"val_psnr": "0"})
    fields.update(overrides)
    return ModelCard(**fields)


def modelcard_cases() -> dict:
    good = []
    for c in (card(2), card(3, outputs="mean,scale", channels_out=2, tile_multiple=(1, 4, 4), tile_halo=(4, 8, 8))):
        meta = c.to_metadata()
        good.append({"metadata": meta, "expected": {
            "task": c.task, "method": c.method, "name": c.name, "ndim": c.ndim, "axes_in": c.axes_in,
            "channels_in": c.channels_in, "channels_out": c.channels_out, "tile_multiple": list(c.tile_multiple),
            "tile_halo": list(c.tile_halo), "tile_default": list(c.tile_default), "scale": list(c.scale),
            "norm_low": 1.0, "norm_high": 99.8, "has_scale_output": c.has_scale_output}})
    base = card(2).to_metadata()
    bad = [
        ({k: v for k, v in base.items() if k != "fluorecon.format"}, "fluorecon.format"),
        ({**base, "fluorecon.format": "99"}, "format"),
        ({k: v for k, v in base.items() if k != "tile.halo"}, "tile.halo"),
        ({**base, "tile.halo": "8,x"}, "tile.halo"),
        ({**base, "tile.halo": "8,8,8"}, "tile_halo"),
    ]
    return {"good": good, "bad": [{"metadata": m, "error_contains": e} for m, e in bad]}


class TinyUNet(nn.Module):
    """Two-level U-Net with random weights: pooling makes tile alignment matter."""

    def __init__(self, ndim: int):
        super().__init__()
        conv = nn.Conv2d if ndim == 2 else nn.Conv3d
        self.pool = nn.MaxPool2d(2) if ndim == 2 else nn.MaxPool3d(2)
        self.down = conv(1, 4, 3, padding=1)
        self.mid = conv(4, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out = conv(8, 1, 3, padding=1)

    def forward(self, x):
        d = torch.relu(self.down(x))
        m = self.up(torch.relu(self.mid(self.pool(d))))
        return self.out(torch.cat([d, m], 1)) + x


def export_tiny(ndim: int, path: Path) -> None:
    torch.manual_seed(ndim)
    net = TinyUNet(ndim).eval()
    example = torch.zeros((1, 1) + (8,) * ndim)
    spatial = {i + 2: f"s{i}" for i in range(ndim)}
    torch.onnx.export(net, example, str(path), input_names=["input"], output_names=["output"], opset_version=17,
                      dynamic_axes={"input": {0: "b", **spatial}, "output": {0: "b", **spatial}}, dynamo=False)
    write_card(path, card(ndim, tile_multiple=(2,) * ndim, tile_halo=(8,) * ndim))


def predict_vector(ndim: int) -> None:
    model = OUT / f"tiny_unet{ndim}d.onnx"
    export_tiny(ndim, model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    run = lambda t: session.run(None, {"input": np.ascontiguousarray(t, dtype=np.float32)})[0]  # noqa: E731
    rng = np.random.default_rng(10 + ndim)
    shape = (45, 70) if ndim == 2 else (11, 30, 26)
    image = (rng.poisson(50 + 40 * rng.random(shape)) + 100).astype(np.float32)
    tile = [32, 24] if ndim == 2 else [8, 16, 16]
    lo, hi = percentile_range(image, 1.0, 99.8)
    x = normalize(image, lo, hi)[None]
    results = {}
    for key, t in (("whole", 10**6), ("tiled", tile)):
        plan = plan_tiles(shape, tile=t, halo=8, multiple=2)
        results[key] = denormalize(predict_tiled(run, x, plan)[0], lo, hi)
    axes = "YX" if ndim == 2 else "ZYX"
    meta = TiffMeta(axes=axes, pixel_size_um=0.1, z_step_um=0.3 if ndim == 3 else None)
    stem = f"predict{ndim}d"
    write_tiff(OUT / f"{stem}_input.tif", image, meta)
    for key, value in results.items():
        write_tiff(OUT / f"{stem}_{key}.tif", value, meta)
    dump(f"{stem}.json", {"model": model.name, "input": f"{stem}_input.tif", "whole": f"{stem}_whole.tif",
                          "tiled": f"{stem}_tiled.tif", "tile": tile, "threads": 1, "tolerance": 1e-4,
                          "norm_lo": lo, "norm_hi": hi,
                          "max_abs_diff_tiled_vs_whole": float(np.abs(results["whole"] - results["tiled"]).max())})


def isotropic_vector() -> None:
    """Isotropic restoration (fluorecon.tasks.isotropic.learned.restore_isotropic) of a small anisotropic
    stack with a tiny random 2D network carded as task=isotropic, z_factor 3: z stretched, XZ and
    YZ slices predicted (each normalized on its own), the two views averaged. JUnit's
    IsotropicJobTest reproduces it; also the stretch alone."""
    from fluorecon.infer import Predictor
    from fluorecon.tasks.isotropic.learned import restore_isotropic, stretch

    f = 3
    model = OUT / "tiny_isotropic2d.onnx"
    torch.manual_seed(7)
    net = TinyUNet(2).eval()
    torch.onnx.export(net, torch.zeros((1, 1, 8, 8)), str(model), input_names=["input"], output_names=["output"],
                      opset_version=17, dynamic_axes={"input": {0: "b", 2: "s0", 3: "s1"},
                                                      "output": {0: "b", 2: "s0", 3: "s1"}}, dynamo=False)
    write_card(model, card(2, task="isotropic", name="tiny-isotropic", tile_multiple=(2, 2), tile_halo=(8, 8),
                           tile_default=(24, 24), train={"data": "none (random weights)", "seed": "7",
                                                         "z_factor": str(f), "sigma_extra_px": "2.0"}))
    rng = np.random.default_rng(31)
    stack = (rng.poisson(60 + 40 * rng.random((5, 20, 18))) + 100).astype(np.float32)
    meta = TiffMeta(axes="ZYX", pixel_size_um=0.1, z_step_um=0.3)
    predictor = Predictor(model, threads=1)
    restored, out_meta = restore_isotropic(stack, predictor, meta=meta)
    write_tiff(OUT / "isotropic_input.tif", stack, meta)
    write_tiff(OUT / "isotropic_expected.tif", restored, out_meta)
    column = stack[:, 3, 4]
    dump("isotropic.json", {"model": model.name, "input": "isotropic_input.tif", "expected": "isotropic_expected.tif",
                            "z_factor": f, "threads": 1, "tolerance": 1e-4, "tile_default": 24,
                            "expected_z_step_um": out_meta.z_step_um, "expected_pixel_size_um": out_meta.pixel_size_um,
                            "stretch_input": column.tolist(), "stretch_expected": stretch(column, f).tolist()})


def phasor_vector() -> None:
    """Spectral phasor (fluorecon.tasks.unmix.classical.phasor / phasor_plot / phasor_mask) of a small lambda
    stack: G, S, intensity per pixel (null = NaN), two plots, and the mask of a polygon drawn on the
    plot in ImageJ coordinates. JUnit's PhasorTest reproduces them."""
    from fluorecon.tasks.unmix.classical import phasor, phasor_mask, phasor_plot

    rng = np.random.default_rng(11)
    image = rng.gamma(2.0, 20.0, (8, 12, 16)).astype(np.float32)
    image[:, 0, :4] = 0.0  # no signal: G, S are NaN
    image[2:5, 1, :] += rng.uniform(50, 400, (3, 16)).astype(np.float32)  # green-ish pixels
    image[6:, 2, :] += rng.uniform(50, 400, (2, 16)).astype(np.float32)  # red-ish pixels
    offset, threshold, bins = 5.0, 10.0, 32
    cases = []
    for harmonic in (1, 2):
        g, s, intensity = phasor(image, harmonic=harmonic, offset=offset)
        as_list = lambda a: [None if not np.isfinite(v) else float(v) for v in a.ravel()]  # noqa: E731
        polygon_xy = [[14.0, 2.0], [30.0, 6.5], [26.0, 20.0], [12.5, 17.0]]  # ImageJ coords on the plot
        polygon_gs = [[x * 2 / bins - 1, 1 - y * 2 / bins] for x, y in polygon_xy]
        mask = phasor_mask(g, s, polygon_gs) & (intensity > threshold)
        cases.append({
            "harmonic": harmonic, "offset": offset, "threshold": threshold, "bins": bins,
            "g": as_list(g), "s": as_list(s), "intensity": as_list(intensity),
            "plot_log_circle": phasor_plot(g, s, intensity=intensity, threshold=threshold, bins=bins).ravel().tolist(),
            "plot_linear": phasor_plot(g, s, intensity=intensity, threshold=0.0, bins=bins, log=False,
                                       circle=False).ravel().tolist(),
            "polygon_xy": polygon_xy, "mask": mask.ravel().astype(int).tolist(),
        })
    dump("phasor.json", {"shape": list(image.shape), "image": image.ravel().tolist(), "cases": cases,
                         "tolerance_gs": 1e-5})


def sim_learned_vector() -> None:
    """Learned SIM (fluorecon.tasks.sim.learned.predict_sim, what `fluorecon sim learned` runs) of a small
    simulated raw stack: 2 z planes × 3 angles × 3 phases, 40×48 px at 80 nm, order angle-phase-z,
    with the shipped 3-frame model (it picks frames 0, 3, 6 of each plane). JUnit's SimLearnedJobTest
    reproduces it: result 80×96 per plane at 40 nm."""
    from fluorecon.infer import Predictor
    from fluorecon.tasks.sim.learned import SIMLearnedSimulation, predict_sim, simulate_triples

    model = Path(__file__).resolve().parents[1] / "models" / "sim_2d_3frames.onnx"
    sim = SIMLearnedSimulation(raw_shape=(40, 48), photons=60.0, photons_spread=1.0, seed=51)
    planes = [t.raw for t in simulate_triples(sim, n=2)]  # (9, H, W) each: angle-major, phase-minor
    stack = np.stack(planes, axis=1).reshape((-1,) + planes[0].shape[-2:]).astype(np.float32)  # z innermost
    meta = TiffMeta(axes="ZYX", pixel_size_um=sim.pixel_size_nm / 1000)
    expected = predict_sim(stack, Predictor(model, threads=1), order="angle-phase-z")
    write_tiff(OUT / "sim_learned_input.tif", stack, meta)
    write_tiff(OUT / "sim_learned_expected.tif", expected, TiffMeta(axes="ZYX", pixel_size_um=meta.pixel_size_um / 2))
    dump("sim_learned.json", {"model": "../../models/" + model.name, "input": "sim_learned_input.tif",
                              "expected": "sim_learned_expected.tif", "order": "angle-phase-z", "angles": 3,
                              "phases": 3, "threads": 1, "tolerance": 1e-4,
                              "input_pixel_size_um": meta.pixel_size_um,
                              "expected_pixel_size_um": meta.pixel_size_um / 2,
                              "expected_shape": list(expected.shape)})


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    dump("tiling.json", {"cases": tiling_cases()})
    dump("reflect.json", {"cases": reflect_cases()})
    dump("normalize.json", {"cases": normalize_cases()})
    dump("modelcard.json", modelcard_cases())
    for ndim in (2, 3):
        predict_vector(ndim)
    isotropic_vector()
    phasor_vector()
    sim_learned_vector()
    print(f"vectors written to {OUT}")


if __name__ == "__main__":
    main()
