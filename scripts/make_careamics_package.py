"""Makes tests/data/careamics_n2v/: a tiny Noise2Void model trained and exported by CAREamics itself.

Run in the CAREamics bench venv (`make careamics-package`, which creates bench/venvs/careamics from
bench/requirements-careamics.txt): CAREamics' architecture code is needed for its pytorch_state_dict
weights, so `make test` reads what this script commits instead of running it:

* ``n2v_tiny.bioimageio.zip`` — CAREamics' own ``CAREamist.export_to_bmz`` package (it runs
  bioimageio.core's test_model before writing it);
* ``n2v_tiny.onnx`` — its weights converted by fluorecon's converter (fluorecon/core/bioimageio_convert.py,
  torch.onnx.export) where careamics imports: `fluorecon bioimageio import --onnx-weights` takes it;
* bioimageio.core's own predictions: ``expected_bioimageio.npy`` on ``export_image.npy`` (a second seeded
  simulated image, 128 x 128: CAREamics fixes the package's input size at its export array's), and
  ``expected_bioimageio_padded.npy`` on ``image.npy`` (its 64 x 64 centre) reflect-padded by PAD pixels per
  side and cropped back, as fluorecon pads every tile by its halo;
* ``provenance.json`` — seed, steps, versions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "careamics_n2v"
CONVERTER = ROOT / "python" / "fluorecon" / "core" / "bioimageio_convert.py"
SEED, STEPS, PAD = 7, 40, 32


def simulated(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Blurred random blobs, Poisson noise at ~20 photons, offset 100 (camera-like counts)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    clean = gaussian_filter((rng.random(shape) > 0.995).astype(np.float64), 2.0)
    clean = 20.0 * clean / clean.max()
    return (rng.poisson(clean + 2.0) * 3.0 + 100.0).astype(np.float32)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    import bioimageio.core
    import bioimageio.spec
    import careamics
    from careamics import CAREamist
    from careamics.config.factories.n2v_factory import create_advanced_n2v_config

    train = simulated((128, 128), SEED)
    # CAREamics fixes the package's input size at the export array's (128 x 128): the comparison image is its
    # centre, which reflect-padded by PAD (fluorecon's halo) is exactly that size, so bioimageio.core runs it whole
    export_array = simulated((128, 128), SEED + 1)
    image = export_array[PAD:-PAD, PAD:-PAD]
    config = create_advanced_n2v_config(
        experiment_name="n2v_tiny", data_type="array", axes="YX", patch_size=[32, 32], batch_size=4,
        num_epochs=10_000, model_params={"depth": 2, "num_channels_init": 8},
        trainer_params={"max_steps": STEPS, "accelerator": "cpu", "enable_model_summary": False},
        num_workers=0, seed=SEED,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    pkg = args.out / "n2v_tiny.bioimageio.zip"
    with tempfile.TemporaryDirectory() as tmp:
        model = CAREamist(config, work_dir=tmp, enable_progress_bar=False)
        model.train(train_data=train)
        steps_done = int(model.trainer.global_step)
        model.export_to_bmz(
            path_to_archive=pkg, friendly_model_name="fluorecon-test-N2V-tiny", input_array=export_array,
            authors=[{"name": "fluorecon developers"}],
            general_description="A 40-step Noise2Void UNet (depth 2, 8 filters) trained by CAREamics on a seeded "
                                "simulated image: a test fixture for fluorecon's bioimage.io import, not a useful model.",
            data_description="128x128 simulated blobs, Poisson noise (~20 photons), x3 + 100 offset, seed 7.")

    # bioimageio.core's own prediction (pytorch_state_dict weights, architecture from careamics)
    from bioimageio.core import load_model_description, predict

    descr = load_model_description(pkg)
    in_id, out_id = str(descr.inputs[0].id), str(descr.outputs[0].id)
    in_axes = [str(a.id) for a in descr.inputs[0].axes]

    def core_predict(img: np.ndarray) -> np.ndarray:
        x = img.reshape([img.shape[["y", "x"].index(a)] if a in ("y", "x") else 1 for a in in_axes])
        sample = predict(model=descr, inputs={in_id: x})
        return np.asarray(sample.members[out_id].data, np.float32).reshape(img.shape)

    np.save(args.out / "image.npy", image)
    np.save(args.out / "export_image.npy", export_array)
    np.save(args.out / "expected_bioimageio.npy", core_predict(export_array))
    np.save(args.out / "expected_bioimageio_padded.npy",
            core_predict(np.pad(image, PAD, mode="reflect"))[PAD:-PAD, PAD:-PAD])

    # the ONNX conversion, with fluorecon's converter, here where careamics imports
    import yaml

    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(pkg) as zf:
        zf.extractall(tmp)
        rdf = yaml.safe_load(Path(tmp, "rdf.yaml").read_text())
        test_input = rdf["inputs"][0]["test_tensor"]["source"]
        names = [a.get("id", a["type"]) for a in rdf["inputs"][0]["axes"]]
        dynamic = ",".join(str(i) for i, a in enumerate(rdf["inputs"][0]["axes"]) if a["type"] != "channel")
        run = subprocess.run([sys.executable, str(CONVERTER), "--package-dir", tmp, "--kind", "pytorch_state_dict",
                              "--entry", json.dumps(rdf["weights"]["pytorch_state_dict"]),
                              "--test-input", str(Path(tmp, test_input)), "--dynamic", dynamic,
                              "--out", str(args.out / "n2v_tiny.onnx")], check=True, capture_output=True, text=True)
        conversion = json.loads(run.stdout.strip().splitlines()[-1])
    provenance = {
        "script": "scripts/make_careamics_package.py", "seed": SEED, "steps": steps_done, "pad": PAD,
        "architecture": "careamics UNet depth 2, 8 filters (N2V, mean/std normalisation)",
        "input_axes": names, "weights": sorted(rdf["weights"]),
        "preprocessing": rdf["inputs"][0].get("preprocessing"), "postprocessing": rdf["outputs"][0].get("postprocessing"),
        "versions": {"careamics": careamics.__version__, "bioimageio.core": bioimageio.core.__version__,
                     "bioimageio.spec": bioimageio.spec.__version__, "torch": torch.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "conversion": conversion,
    }
    (args.out / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")
    print(json.dumps(provenance, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
