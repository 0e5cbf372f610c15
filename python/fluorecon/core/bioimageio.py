"""bioimage.io model packages (rdf.yaml, format 0.5) out of and into fluorecon's carded ONNX models.

Export (:func:`export_package`) writes a zip with the ONNX file, an ``rdf.yaml`` whose axes, halo,
size steps and pre-processing come from the card, test tensors made by ONNX Runtime, a cover image,
README.md (the card's training data and metrics) and the whole card under ``config.fluorecon``.

The mapping, and what cannot be mapped:

* ``norm = percentile:LOW:HIGH`` → pre-processing ``scale_range`` over the spatial axes (the whole
  sample, as fluorecon normalises the whole block before tiling). bioimage.io has no post-processing
  that undoes a per-sample percentile scaling, so the package's output is the network's output in
  *normalised* units (input's LOW percentile → 0, HIGH → 1); fluorecon maps it back to the input's
  units (card ``denorm = input``), which the import restores from ``config.fluorecon``.
* ``tile.multiple`` → ``size: {min, step}`` of every input space axis; ``tile.halo`` (input pixels)
  → ``halo`` of the output axes (output pixels: halo × scale); ``scale`` → the output axis ``scale``
  (pixel size) with a size reference to the input axis.
* Every shipped model exports. The channel axis has the ONNX graph's channel count (named from the card where it
  names them: SIM frames, spectral bands, labels, DECODE's outputs, light-field z planes); a multi-channel input is
  scaled with one percentile pair over all its channels, as fluorecon does; ``norm = photons:S`` (SMLM: network
  input = photons / S) → ``scale_linear`` with gain 1/S. The meaning of a non-image-to-image output (localisation
  maps, displacement field, abundances, z planes) and what fluorecon does around the network are stated in the
  tensor description and README (OUTPUT_MEANING). Refused: an uncertainty head (outputs = mean,scale) and other
  norms (:func:`not_exportable`).

Import (:func:`import_package`) reads any 0.5 image-to-image package (a fluorecon export of another task is
refused: use the fluorecon model itself) with ONNX weights, or with torchscript /
pytorch_state_dict weights that bioimageio_convert.py turns into ONNX (torch.onnx.export) in a Python
that has torch and the architecture's library (``--python``: CAREamics' UNet is code in `careamics`,
which fluorecon does not install); input sizes fixed at the export example's (CAREamics does that) take
the step of a known architecture (CAREamics' UNet: 2^depth) or ``--size-step``. The graph is wrapped with
Transpose/Squeeze nodes so it takes fluorecon's (1, 1, [Z,] Y, X) layout whatever the package's axis
order, and the pre/post-processing becomes the card's ``norm``/``denorm``; anything else is refused
with a message that names it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from fluorecon.core.atomic import atomic_path
from fluorecon.core.modelcard import ModelCard, read_card, save_with_card
from fluorecon.core.normalize import EPS, parse_norm

FORMAT_VERSION = "0.5.4"
IMAGE_TO_IMAGE_TASKS = ("denoise", "upsample", "isotropic", "deconvolve", "crossmodal")
REVIEW = {"text": "Belthangady C., Royer L. A., Applications, promises, and pitfalls of deep learning for fluorescence "
                  "image reconstruction, Nat. Methods 16, 1215 (2019)", "doi": "10.1038/s41592-019-0458-z"}
# DOIs of the methods cited in the shipped cards (matched on a phrase of the card's `cite`).
METHOD_DOIS = {
    "Content-aware image restoration": "10.1038/s41592-018-0216-7",
    "Isotropic reconstruction": "10.1007/978-3-319-66179-7_15",
    "Label-free prediction": "10.1038/s41592-018-0111-2",
}
SPATIAL = {2: ("y", "x"), 3: ("z", "y", "x")}


class PackageError(ValueError):
    """A model that cannot be exported, or a package that cannot be imported, with the reason."""


# What the output of a model that is not image-to-image means, and what fluorecon does with it after the network.
OUTPUT_MEANING = {
    "localize": "the network's raw localisation maps; fluorecon's peak extraction (README: card train.peak_extraction, "
                "output_channels, density_scale) turns them into a localisation table",
    "sim": "the reconstructed image in normalised units (input's low percentile -> 0, high -> 1); fluorecon picks the "
           "input frames from a raw SIM stack (card train.frames, frame_order) and maps the output back to the raw "
           "frames' units: x (p_high - p_low) + p_low",
    "unmix": "label abundances in normalised units; fluorecon multiplies them by the input's p_high - p_low "
             "(card train.output_scale) to give abundances in the input's units",
    "register": "the displacement field (dy, dx) in input pixels, moving(p + u(p)) = fixed(p); fluorecon applies it "
                "to the moving image",
    "lightfield": "the volume's z planes as channels, in normalised units; fluorecon re-arranges the rectified light "
                  "field into these views (card train.views) and maps the output back (card train.output_units)",
}
INPUT_MEANING = {
    "localize": "SMLM frames in photons per pixel (offset removed, ADU to photons), as channels per card train.frames_in",
    "sim": "raw SIM frames as channels, in the card's frame order (train.frames, frame_order)",
    "unmix": "a lambda stack: one channel per spectral band (card train.bands_nm)",
    "register": "the pair (moving, fixed) as two channels",
    "lightfield": "the rectified light field's views as channels (card train.views)",
}
REGISTER_CHANNELS = (["moving", "fixed"], ["dy_px", "dx_px"])


def not_exportable(card: ModelCard) -> str | None:
    """Why `card`'s model cannot be a bioimage.io package, or None when it can."""
    if card.has_scale_output:
        return "it also predicts an uncertainty (outputs = mean,scale), which bioimage.io cannot describe as one output"
    if not card.norm.startswith(("percentile:", "photons:")):
        return f"its normalisation '{card.norm}' has no bioimage.io pre-processing"
    return None


def _preprocessing(card: ModelCard) -> list[dict]:
    """The card's ``norm`` as bioimage.io pre-processing: percentiles over the whole sample (all channels jointly, as
    fluorecon normalises a multi-channel block), or ``photons:S`` (network input = photons / S) as scale_linear."""
    if card.norm.startswith("photons:"):
        return [{"id": "scale_linear", "kwargs": {"gain": 1.0 / float(card.norm.split(":")[1]), "offset": 0.0}}]
    low, high = parse_norm(card.norm)
    axes = (["channel"] if card.channels_in > 1 else []) + list(SPATIAL[card.ndim])
    return [{"id": "scale_range", "kwargs": {"axes": axes, "min_percentile": low, "max_percentile": high, "eps": EPS}}]


def _identifier(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text.strip()).strip("_")
    return name if re.match(r"[A-Za-z_]", name) else f"c{name}"


def _channel_names(card: ModelCard, n: int, *, output: bool) -> list[str]:
    """Channel names from the card where it names them (SIM frames, spectral bands, labels, DECODE's outputs,
    light-field z planes), else channel0, channel1, …"""
    train = card.train
    if card.task == "register":
        names = REGISTER_CHANNELS[output]
    elif not output and "frames" in train:
        names = [f"frame{f.strip()}" for f in train["frames"].split(",")]
    elif not output and "bands_nm" in train:
        names = [f"band_{b.strip()}nm" for b in train["bands_nm"].split(";")]
    elif output and "labels" in train:
        names = train["labels"].split(",")
    elif output and "output_channels" in train:
        names = train["output_channels"].split(",")
    elif output and "z_planes" in train:
        names = [f"z{i}" for i in range(int(train["z_planes"]))]
    else:
        names = [f"channel{i}" for i in range(n)]
    names = [_identifier(x) for x in names]
    return names if len(names) == n and len(set(names)) == n else [f"channel{i}" for i in range(n)]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, np.float32))
    return buf.getvalue()


def _test_input(card: ModelCard) -> tuple[np.ndarray, str]:
    """A small input (channels, [Z,] Y, X) for the test tensors: the bundled sample (2D, one channel) or a simulated
    phantom with Poisson noise, drawn again per channel (in photons for a ``photons:`` card, else camera ADU)."""
    want = (48, 64, 64) if card.ndim == 3 else (max(16, 128 // max(card.scale)),) * 2
    shape = tuple(_valid_size(w, m, h) for w, m, h in zip(want, card.tile_multiple, card.tile_halo))
    if card.ndim == 2 and card.channels_in == 1 and not card.norm.startswith("photons:"):
        import tifffile

        sample = tifffile.imread(Path(__file__).resolve().parents[1] / "data" / "sample_noisy_2d.tif")
        if shape[0] <= sample.shape[0] and shape[1] <= sample.shape[1]:
            return (sample[None, : shape[0], : shape[1]].astype(np.float32),
                    "the bundled sample (fluorecon/data/sample_noisy_2d.tif), cropped")
    from fluorecon.imaging.phantoms import phantom

    rng = np.random.default_rng(0)
    clean = phantom(shape, kind="mixed", seed=0)
    photons = rng.poisson(15.0 * clean + 2.0, (card.channels_in,) + shape).astype(np.float32)
    if card.norm.startswith("photons:"):
        return photons, "a simulated phantom (fluorecon.imaging.phantoms, 15 photons peak, Poisson noise, seed 0), " \
                        "in photons"
    per_channel = ", drawn again for each channel" if card.channels_in > 1 else ""
    return photons * 2.0 + 100.0, ("a simulated phantom (fluorecon.imaging.phantoms, 15 photons peak, Poisson noise, "
                                   f"seed 0{per_channel}); it checks that a runner reproduces the network, not the "
                                   "science of the task")


def _preprocess_like_bioimageio(image: np.ndarray, card: ModelCard) -> np.ndarray:
    """What the package's pre-processing does to `image` (channels, …): scale_range over the whole sample,
    (x − p_low) / (p_high − p_low + eps), or scale_linear by 1/S for ``photons:S``."""
    if card.norm.startswith("photons:"):
        return (image / float(card.norm.split(":")[1])).astype(np.float32)
    low, high = parse_norm(card.norm)
    lo, hi = np.percentile(image.astype(np.float64), [low, high])
    return ((image - lo) / (hi - lo + EPS)).astype(np.float32)


def _cover(left: np.ndarray, right: np.ndarray) -> bytes:
    """A 2:1 PNG: input (left) and output (right), each scaled to its own 1–99.8 percentiles."""
    from PIL import Image

    def tile(a: np.ndarray) -> Image.Image:
        a = a if a.ndim == 2 else a[a.shape[0] // 2]
        lo, hi = np.percentile(a, [1, 99.8])
        u8 = (np.clip((a - lo) / max(hi - lo, EPS), 0, 1) * 255).astype(np.uint8)
        return Image.fromarray(u8).resize((256, 256), Image.Resampling.NEAREST)

    cover = Image.new("L", (512, 256))
    cover.paste(tile(left), (0, 0))
    cover.paste(tile(right), (256, 0))
    buf = io.BytesIO()
    cover.save(buf, format="PNG")
    return buf.getvalue()


def _name(card: ModelCard) -> str:
    allowed = r"[^A-Za-z0-9 _+\-()]"  # bioimage.io's name alphabet
    name = re.sub(r"\s*\([^)]*\)", lambda m: "" if re.search(allowed, m.group(0)[1:-1]) else m.group(0), card.name)
    name = re.sub(allowed + "+", " ", name)
    return re.sub(r"\s+", " ", name).strip()[:120] or f"fluorecon {card.task} {card.method}"


def _cites(card: ModelCard) -> list[dict]:
    cites = [dict(REVIEW)]
    for text in [c.strip() for c in card.cite.split(";") if c.strip()]:
        doi = next((d for phrase, d in METHOD_DOIS.items() if phrase.lower() in text.lower()), None)
        cites.append({"text": text, "doi": doi} if doi else {"text": text, "url": "https://github.com/fluorecon"})
    return cites


def _readme(card: ModelCard, sample_source: str) -> str:
    if card.norm.startswith("photons:"):
        norm = [f"Input: photons per pixel; the package divides them by {card.norm.split(':')[1]} (bioimage.io "
                "`scale_linear`, card norm `" + card.norm + "`). Convert camera ADU to photons (offset, gain) first."]
    else:
        norm = [f"Input: `{card.norm}` over the whole image" + (", all channels jointly" if card.channels_in > 1 else "")
                + " (bioimage.io `scale_range`, before tiling)."]
    if card.task in OUTPUT_MEANING:
        norm.append(f"Output: {OUTPUT_MEANING[card.task]}.")
    else:
        norm.append("Output: the network's output in normalised units (input's low percentile → 0, high → 1). "
                    "fluorecon maps it back to the input's intensity units: output × (p_high − p_low) + p_low.")
    lines = [f"# {card.name}", "", card.description, "",
             f"fluorecon task `{card.task}`, method `{card.method}`, model version {card.model_version or '-'}.", "",
             f"Tensors: {card.channels_in} channel(s) in"
             + (f" ({INPUT_MEANING[card.task]})" if card.task in INPUT_MEANING else "")
             + f", {card.channels_out} channel(s) out.", "", "## Normalisation", "", *norm, "",
             "## Tiling", "",
             f"Tile sides are multiples of {','.join(map(str, card.tile_multiple))}; the halo is "
             f"{','.join(map(str, card.tile_halo))} input pixels per side; output/input size ratio "
             f"{','.join(map(str, card.scale))}.", "",
             f"Test tensors: {sample_source}, run through ONNX Runtime.", "", "## Training", ""]
    lines += [f"- {k}: {v}" for k, v in card.train.items()] or ["- (not recorded)"]
    lines += ["", "## Validation metrics", ""]
    lines += [f"- {k}: {v}" for k, v in card.metrics.items()] or ["- (not recorded)"]
    lines += ["", "## Cite", ""] + [f"- {c['text']}" for c in _cites(card)]
    return "\n".join(lines) + "\n"


def _min_size(multiple: int, halo: int) -> int:
    """Smallest tile side with room for the halo on both sides (bioimage.io requires size > 2·halo)."""
    return multiple * -(-(2 * halo + multiple) // multiple)


def _valid_size(want: int, multiple: int, halo: int) -> int:
    """A side of the form min + n·step close to `want`."""
    low = _min_size(multiple, halo)
    return low + multiple * max(0, round((want - low) / multiple))


def _axes(card: ModelCard, n_channels: int, *, output: bool) -> list[dict]:
    axes: list[dict] = [{"type": "batch"},
                        {"type": "channel", "channel_names": _channel_names(card, n_channels, output=output)}]
    for name, multiple, halo, scale in zip(SPATIAL[card.ndim], card.tile_multiple, card.tile_halo, card.scale):
        if not output:
            axes.append({"type": "space", "id": name, "size": {"min": _min_size(multiple, halo), "step": multiple}})
        else:
            axis = {"type": "space", "id": name, "size": {"tensor_id": "input", "axis_id": name}}
            if scale != 1:
                axis["scale"] = 1.0 / scale
            if halo:
                axis["halo"] = halo * scale
            axes.append(axis)
    return axes


def _short(text: str) -> str:
    """A tensor description within bioimage.io's 128 characters (the README has the whole text)."""
    return text if len(text) <= 128 else text[:125] + "..."


def _graph_channels(model: Path) -> tuple[int, int]:
    """Channels of the ONNX graph's one input and one output (the card's channels.in / channels.out must agree)."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    init = {i.name for i in graph.initializer}
    ins = [i for i in graph.input if i.name not in init]
    if len(ins) != 1 or len(graph.output) != 1:
        raise PackageError(f"{model.name} has {len(ins)} inputs and {len(graph.output)} outputs; fluorecon exports "
                           "networks with one input and one output tensor.")
    return tuple(int(v.type.tensor_type.shape.dim[1].dim_value) for v in (ins[0], graph.output[0]))


def export_package(model: str | Path, out: str | Path) -> dict:
    """Write the bioimage.io package of a fluorecon ONNX model to the zip `out`; returns the rdf."""
    import onnxruntime as ort
    import yaml

    model, out = Path(model), Path(out)
    card = read_card(model)
    reason = not_exportable(card)
    if reason:
        raise PackageError(f"Model '{card.name}' cannot be a bioimage.io package: {reason}.")
    n_in, n_out = _graph_channels(model)
    if (n_in, n_out) != (card.channels_in, card.channels_out):
        raise PackageError(f"{model.name}: its network maps {n_in} → {n_out} channels but its card says "
                           f"{card.channels_in} → {card.channels_out}; re-export the model.")
    raw, sample_source = _test_input(card)
    x = _preprocess_like_bioimageio(raw, card)[None]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    y = session.run(None, {session.get_inputs()[0].name: x})[0]
    weights = model.read_bytes()
    files = {
        "model.onnx": weights,
        "test_input.npy": _npy(raw[None]),
        "test_output.npy": _npy(y),
        "cover.png": _cover(raw[0], y[0, 0]),
        "README.md": _readme(card, sample_source).encode(),
    }
    image_to_image = card.task not in OUTPUT_MEANING
    in_text = INPUT_MEANING.get(card.task, "raw image")
    out_text = OUTPUT_MEANING.get(card.task, "normalised units (input's low percentile -> 0, high -> 1); "
                                             "x (p_high - p_low) + p_low gives the input's intensity units")
    rdf = {
        "format_version": FORMAT_VERSION,
        "type": "model",
        "name": _name(card),
        "description": ((card.description or card.name)[:800] + " bioimage.io output: " +
                        ("normalised units" if image_to_image else "see README") + " (README)."),
        "version": card.model_version or "0.1.0",
        "authors": [{"name": "fluorecon developers"}],
        "cite": _cites(card),
        "license": card.license,
        "documentation": "README.md",
        "covers": ["cover.png"],
        "tags": ["fluorescence-light-microscopy", "fluorecon", card.task, card.method, f"{card.ndim}d", "onnx"],
        "inputs": [{
            "id": "input",
            "description": _short(f"{in_text} (card norm {card.norm})"),
            "axes": _axes(card, n_in, output=False),
            "test_tensor": {"source": "test_input.npy", "sha256": _sha256(files["test_input.npy"])},
            "data": {"type": "float32"},
            "preprocessing": _preprocessing(card),
        }],
        "outputs": [{
            "id": "output",
            "description": _short(out_text.split(";")[0] + ("; README" if ";" in out_text else "")),
            "axes": _axes(card, n_out, output=True),
            "test_tensor": {"source": "test_output.npy", "sha256": _sha256(files["test_output.npy"])},
            "data": {"type": "float32"},
        }],
        "weights": {"onnx": {"source": "model.onnx", "sha256": _sha256(weights), "opset_version": _opset(model),
                             "authors": [{"name": "fluorecon developers"}]}},
        "config": {"fluorecon": {"card": card.to_metadata(), "test_input": sample_source,
                                 "output_units": "normalised; fluorecon's denorm = input maps them back"
                                 if image_to_image else out_text}},
    }
    files["rdf.yaml"] = yaml.safe_dump(rdf, sort_keys=False, allow_unicode=True).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".zip.part") as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in ("rdf.yaml",) + tuple(k for k in files if k != "rdf.yaml"):
                zf.writestr(name, files[name])
    return rdf


def _opset(model: Path) -> int:
    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 17)


# ---------------------------------------------------------------- import

_SKIPPED_OPS = ("ensure_dtype",)


def _scalar(value, what: str) -> float:
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1:
            raise PackageError(f"{what} has one value per channel ({value}); fluorecon needs one value for the image.")
        value = value[0]
    return float(value)


def _input_norm(ops: list[dict], spatial: list[str]) -> str:
    """The card's ``norm`` for a package's input pre-processing."""
    ops = [op for op in ops if op.get("id") not in _SKIPPED_OPS]
    if not ops:
        return "fixed:0:1"
    if len(ops) > 1:
        raise PackageError("unsupported pre-processing: the chain " + " → ".join(op.get("id", "?") for op in ops) +
                           "; fluorecon maps one linear normalisation (scale_range, zero_mean_unit_variance, "
                           "fixed_zero_mean_unit_variance or scale_linear).")
    op, kw = ops[0].get("id"), ops[0].get("kwargs") or {}
    axes = kw.get("axes")
    if op in ("scale_range", "zero_mean_unit_variance"):
        if kw.get("reference_tensor") not in (None, "input") and op == "scale_range":
            raise PackageError(f"unsupported pre-processing: scale_range with reference_tensor {kw['reference_tensor']!r}.")
        if axes is not None and not set(spatial) <= set(axes):
            raise PackageError(f"unsupported pre-processing: {op} over axes {axes} (fluorecon normalises over all of "
                               f"{spatial} at once).")
        if op == "zero_mean_unit_variance":
            return "zscore"
        return f"percentile:{float(kw.get('min_percentile', 0.0)):g}:{float(kw.get('max_percentile', 100.0)):g}"
    if op == "fixed_zero_mean_unit_variance":
        mean, std = _scalar(kw.get("mean"), "fixed_zero_mean_unit_variance mean"), _scalar(kw.get("std"), "std")
        return f"fixed:{mean!r}:{std + float(kw.get('eps', EPS))!r}"
    if op == "scale_linear":
        gain, offset = _scalar(kw.get("gain", 1.0), "scale_linear gain"), _scalar(kw.get("offset", 0.0), "offset")
        if gain == 0:
            raise PackageError("unsupported pre-processing: scale_linear with gain 0.")
        return f"fixed:{-offset / gain!r}:{1.0 / gain!r}"
    raise PackageError(f"unsupported pre-processing '{op}'; fluorecon maps scale_range, zero_mean_unit_variance, "
                       "fixed_zero_mean_unit_variance, scale_linear and ensure_dtype.")


def _output_denorm(ops: list[dict]) -> str:
    """The card's ``denorm`` for a package's output post-processing (one linear map at most)."""
    ops = [op for op in ops if op.get("id") not in _SKIPPED_OPS]
    if not ops:
        return "none"
    if len(ops) > 1:
        raise PackageError("unsupported post-processing: the chain " + " → ".join(op.get("id", "?") for op in ops) + ".")
    op, kw = ops[0].get("id"), ops[0].get("kwargs") or {}
    if op == "scale_linear":
        return f"linear:{_scalar(kw.get('gain', 1.0), 'gain')!r}:{_scalar(kw.get('offset', 0.0), 'offset')!r}"
    if op == "fixed_zero_mean_unit_variance":
        mean, std = _scalar(kw.get("mean"), "mean"), _scalar(kw.get("std"), "std") + float(kw.get("eps", EPS))
        return f"linear:{1.0 / std!r}:{-mean / std!r}"
    raise PackageError(f"unsupported post-processing '{op}'; fluorecon maps scale_linear, "
                       "fixed_zero_mean_unit_variance and ensure_dtype.")


def _axis_id(axis: dict) -> str:
    return {"batch": "batch", "channel": "channel"}.get(axis["type"], axis.get("id", axis["type"]))


def _layout(tensor: dict, what: str) -> tuple[list[str], list[dict]]:
    axes = tensor.get("axes")
    if isinstance(axes, str):
        raise PackageError(f"{what} axes '{axes}' are in the format 0.4 notation; fluorecon imports format 0.5 "
                           "packages (bioimageio.spec's update_format converts older ones).")
    names = [_axis_id(a) for a in axes]
    for a in axes:
        if a["type"] in ("time", "index"):
            raise PackageError(f"{what} has a {a['type']} axis '{_axis_id(a)}'; fluorecon imports image-to-image "
                               "models over (channel,) z, y, x only.")
        if a["type"] == "channel" and len(a.get("channel_names", ["c"])) != 1:
            raise PackageError(f"{what} has {len(a['channel_names'])} channels; fluorecon imports one-channel "
                               "image-to-image models.")
    spatial = [n for n in names if n in ("z", "y", "x")]
    if spatial not in (["y", "x"], ["z", "y", "x"]) or len(set(names)) != len(names) or \
            not set(names) <= {"batch", "channel", "z", "y", "x"}:
        raise PackageError(f"{what} axes {names} are not an image fluorecon can tile (need y, x or z, y, x, "
                           "optionally batch and channel).")
    return names, axes


def _axes_node(graph, op: str, source: str, axes: list[int], result: str):
    """An ONNX `op` (Squeeze/Unsqueeze) node over `axes`, whose axes tensor is added to `graph`."""
    import onnx
    from onnx import helper

    axes_t = helper.make_tensor(f"fluorecon_{op.lower()}_axes", onnx.TensorProto.INT64, [len(axes)], axes)
    graph.initializer.append(axes_t)
    return helper.make_node(op, [source, axes_t.name], [result])


def _wrap_graph(proto, in_names: list[str], out_names: list[str], ndim: int):
    """Give the graph fluorecon's layout: input 'input' (1, 1, [Z,] Y, X) → output 'output' alike."""
    import onnx
    from onnx import helper

    canon = ["batch", "channel"] + list(SPATIAL[ndim])
    graph = proto.graph
    init_names = {i.name for i in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in init_names]
    if len(real_inputs) != 1 or len(graph.output) != 1:
        raise PackageError(f"the ONNX graph has {len(real_inputs)} inputs and {len(graph.output)} outputs; "
                           "fluorecon imports one input and one output.")
    old_in, old_out = real_inputs[0].name, graph.output[0].name
    nodes_before, nodes_after = [], []
    # input: canonical → drop axes the package lacks → package order
    kept = [a for a in canon if a in in_names]
    cur = "fluorecon_input"  # fresh names: the wrapped graph may use 'input'/'output' inside
    missing = [i for i, a in enumerate(canon) if a not in in_names]
    if missing:
        nodes_before.append(_axes_node(graph, "Squeeze", cur, missing, "fluorecon_in_squeezed"))
        cur = "fluorecon_in_squeezed"
    perm = [kept.index(a) for a in in_names]
    if perm != list(range(len(perm))):
        nodes_before.append(helper.make_node("Transpose", [cur], ["fluorecon_in_perm"], perm=perm))
        cur = "fluorecon_in_perm"
    for node in graph.node:
        node.input[:] = [cur if n == old_in else n for n in node.input]
    # output: package order → canonical order of present axes → unsqueeze missing
    kept_out = [a for a in canon if a in out_names]
    perm = [out_names.index(a) for a in kept_out]
    cur = old_out
    if perm != list(range(len(perm))):
        nodes_after.append(helper.make_node("Transpose", [cur], ["fluorecon_out_perm"], perm=perm))
        cur = "fluorecon_out_perm"
    missing = [i for i, a in enumerate(canon) if a not in out_names]
    if missing:
        nodes_after.append(_axes_node(graph, "Unsqueeze", cur, missing, "fluorecon_out_unsq"))
        cur = "fluorecon_out_unsq"
    if nodes_after:
        nodes_after.append(helper.make_node("Identity", [cur], ["fluorecon_output"]))
    new_nodes = nodes_before + list(graph.node) + nodes_after
    del graph.node[:]
    graph.node.extend(new_nodes)
    dims = ["batch", 1] + list(SPATIAL[ndim])
    new_in = helper.make_tensor_value_info("fluorecon_input", onnx.TensorProto.FLOAT, dims)
    new_out = helper.make_tensor_value_info("fluorecon_output" if nodes_after else old_out, onnx.TensorProto.FLOAT, dims)
    graph.input.remove(real_inputs[0])
    graph.input.insert(0, new_in)
    del graph.output[:]
    graph.output.append(new_out)
    return proto


def _size_rule(axis: dict, what: str, size_step: int | None) -> tuple[int, int]:
    size = axis.get("size")
    if isinstance(size, dict) and "step" in size:
        return int(size["min"]), int(size["step"])
    if isinstance(size, dict) and "tensor_id" in size:
        raise PackageError(f"{what} axis '{axis['id']}' takes its size from another tensor; fluorecon imports "
                           "models whose input sizes are given as min + n·step.")
    if isinstance(size, int) and size_step:  # a fully convolutional network exported with its example's size
        return size_step, size_step
    raise PackageError(f"{what} axis '{axis.get('id')}' has the fixed size {size}: a model that accepts only one "
                       "image size cannot be tiled; fluorecon imports models with size min + n·step. If the network "
                       "is fully convolutional, give the size step it needs (--size-step; 2^depth for a UNet).")


def _known_size_step(weights: dict) -> int | None:
    """The input size step of an architecture whose rule is known: CAREamics' UNet halves the image `depth` times."""
    arch = (weights.get("pytorch_state_dict") or {}).get("architecture") or {}
    if arch.get("import_from") == "careamics.models.unet" and arch.get("callable") == "UNet":
        return 2 ** int((arch.get("kwargs") or {}).get("depth", 2))
    return None


TORCH_KINDS = ("torchscript", "pytorch_state_dict")  # preference order for a conversion to ONNX


def _architecture_library(entry: dict) -> str | None:
    """The top-level module a pytorch_state_dict architecture imports from (None: code inside the package)."""
    module = (entry.get("architecture") or {}).get("import_from")
    return module.split(".")[0] if module else None


def _python_has(python: str, module: str) -> bool:
    import subprocess

    probe = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


def _and(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def _convert_to_onnx(zf: zipfile.ZipFile, rdf: dict, pkg: Path, python: str | None) -> tuple[bytes, dict]:
    """ONNX weights for a package that has only PyTorch ones, by bioimageio_convert.py run in `python`
    (this Python by default). Returns the ONNX bytes and the converter's report."""
    import subprocess
    import sys
    import tempfile

    weights = rdf.get("weights") or {}
    kind = next(k for k in TORCH_KINDS if k in weights)  # import_package refused packages with neither
    entry = weights[kind]
    if kind == "pytorch_state_dict" and not (entry.get("architecture") or {}).get("callable"):
        raise PackageError(f"{pkg.name}'s pytorch_state_dict weights name no architecture (weights.pytorch_state_dict."
                           "architecture); there is no network to load them into.")
    needs = ["torch", "onnx"] + ([_architecture_library(entry)] if kind == "pytorch_state_dict" and
                                 _architecture_library(entry) else [])  # torch.onnx.export needs onnx
    interpreter = python or sys.executable
    missing = [m for m in needs if not _python_has(interpreter, m)]
    if missing:
        arch = entry.get("architecture") or {}
        where = f"Python {python}" if python else "this Python"
        raise PackageError(
            f"{pkg.name} has {kind} weights" + (f" whose architecture {arch.get('import_from')}.{arch.get('callable')} "
                                                 f"is code in the library '{missing[-1]}'" if arch else "") +
            f"; {where} lacks {_and(missing)}. Give --python PATH, a Python where "
            f"{_and(needs)} are installed (for CAREamics: the venv CAREamics runs in), to convert the weights "
            "to ONNX there; the rest of the import runs here.")
    inputs = rdf["inputs"][0]
    dynamic = ",".join(str(i) for i, a in enumerate(inputs["axes"]) if a["type"] != "channel")
    with tempfile.TemporaryDirectory(prefix="fluorecon-bioimageio-") as tmp:
        zf.extractall(tmp)
        out = Path(tmp) / "fluorecon_converted.onnx"
        cmd = [interpreter, str(Path(__file__).with_name("bioimageio_convert.py")), "--package-dir", tmp,
               "--kind", kind, "--entry", json.dumps(entry), "--test-input",
               str(Path(tmp) / inputs["test_tensor"]["source"]), "--dynamic", dynamic, "--out", str(out)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0 or not out.is_file():
            tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-6:])
            raise PackageError(f"converting the {kind} weights of {pkg.name} to ONNX failed in {interpreter}:\n{tail}")
        return out.read_bytes(), json.loads(run.stdout.strip().splitlines()[-1])


def _read_package(pkg: Path) -> tuple[dict, zipfile.ZipFile]:
    import yaml

    if not pkg.is_file():
        raise PackageError(f"package not found: {pkg}")
    try:
        zf = zipfile.ZipFile(pkg)
    except zipfile.BadZipFile:
        raise PackageError(f"{pkg.name} is not a zip file; give a bioimage.io package (.zip).") from None
    names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] in ("rdf.yaml", "bioimageio.yaml")]
    if not names:
        raise PackageError(f"{pkg.name} has no rdf.yaml; it is not a bioimage.io package.")
    rdf = yaml.safe_load(zf.read(min(names, key=len)))
    return rdf, zf


def import_package(pkg: str | Path, out: str | Path, *, tile_halo: int = 32, python: str | Path | None = None,
                   onnx_weights: str | Path | None = None, size_step: int | None = None) -> ModelCard:
    """Turn a bioimage.io package into a carded fluorecon model at `out`.

    ONNX weights are used as they are; torchscript or pytorch_state_dict weights are converted to ONNX by
    bioimageio_convert.py in `python` (default: this one), which must have torch and, for a state dict, the
    library of its architecture. `onnx_weights`: that conversion's result made before (its input/output in the
    package's axis order). `size_step`: the input size step of a network exported with fixed sizes."""
    import onnx

    pkg, out = Path(pkg), Path(out)
    rdf, zf = _read_package(pkg)
    with zf:
        if rdf.get("type") != "model":
            raise PackageError(f"{pkg.name} describes a '{rdf.get('type')}', not a model.")
        if not str(rdf.get("format_version", "")).startswith("0.5."):
            raise PackageError(f"{pkg.name} is format {rdf.get('format_version')}; fluorecon imports format 0.5 "
                               "(bioimageio.spec's update_format converts older packages).")
        task = (((rdf.get("config") or {}).get("fluorecon") or {}).get("card") or {}).get("task")
        if task in OUTPUT_MEANING:
            raise PackageError(f"{pkg.name} is a fluorecon '{task}' model, not image-to-image; fluorecon imports "
                               "image-to-image packages. Use the fluorecon model it was exported from (its ONNX "
                               "file is model.onnx in the package, with its card).")
        weights = rdf.get("weights") or {}
        if onnx_weights is None and "onnx" not in weights and not any(k in weights for k in TORCH_KINDS):
            raise PackageError(f"{pkg.name} has no ONNX weights (it has {', '.join(weights) or 'none'}); fluorecon "
                               "runs ONNX and converts torchscript and pytorch_state_dict weights, not these.")
        inputs, outputs = rdf.get("inputs") or [], rdf.get("outputs") or []
        if len(inputs) != 1 or len(outputs) != 1:
            raise PackageError(f"{pkg.name} has {len(inputs)} inputs and {len(outputs)} outputs; fluorecon imports "
                               "models with one of each.")
        in_names, in_axes = _layout(inputs[0], "input")
        out_names, out_axes = _layout(outputs[0], "output")
        spatial = [n for n in in_names if n in ("z", "y", "x")]
        if [n for n in out_names if n in ("z", "y", "x")] != spatial:
            raise PackageError(f"input axes {in_names} and output axes {out_names} differ in their spatial axes.")
        ndim = len(spatial)
        norm = _input_norm(inputs[0].get("preprocessing") or [], spatial)
        denorm = _output_denorm(outputs[0].get("postprocessing") or [])
        by_id_in = {_axis_id(a): a for a in in_axes}
        by_id_out = {_axis_id(a): a for a in out_axes}
        mins, steps, halos, scales = [], [], [], []
        size_step = size_step or _known_size_step(weights)
        for name in SPATIAL[ndim]:
            lo, step = _size_rule(by_id_in[name], "input", size_step)
            mins.append(lo)
            steps.append(step)
            ratio = float(by_id_in[name].get("scale", 1.0)) / float(by_id_out[name].get("scale", 1.0))
            if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
                raise PackageError(f"output axis '{name}' is {ratio:g}× the input; fluorecon imports integer upscaling.")
            scales.append(int(round(ratio)))
            halo_out = by_id_out[name].get("halo")
            halos.append(-(-int(halo_out) // scales[-1]) if halo_out else tile_halo)
        halos = [steps[i] * -(-h // steps[i]) for i, h in enumerate(halos)]  # fluorecon's halo: a multiple of the step
        default = [max(mins[i], steps[i] * -(-(256 if ndim == 2 else 64) // steps[i])) for i in range(ndim)]
        config = (rdf.get("config") or {}).get("fluorecon") or {}
        conversion = None
        if onnx_weights is not None:
            proto = onnx.load(str(onnx_weights))
            conversion = {"onnx_weights": Path(onnx_weights).name}
        elif "onnx" in weights:
            src = weights["onnx"].get("source")
            try:
                proto = onnx.load_from_string(zf.read(src))
            except KeyError:
                raise PackageError(f"{pkg.name} lacks its ONNX weights file '{src}'.") from None
        else:
            data, conversion = _convert_to_onnx(zf, rdf, pkg, str(python) if python else None)
            proto = onnx.load_from_string(data)
    base = dict(config.get("card") or {})
    if base:  # a fluorecon export: its card, with the structure re-derived from the rdf (the package is the contract)
        card = ModelCard.from_metadata(base)
        card = card.model_copy(update={"denorm": "input" if denorm == "none" and card.norm == norm else denorm})
        if card.norm != norm or tuple(scales) != card.scale:
            raise PackageError(f"{pkg.name}: its rdf (norm {norm}, scale {scales}) disagrees with the fluorecon card in "
                               f"config (norm {card.norm}, scale {list(card.scale)}); re-export it.")
    else:
        cites = "; ".join(c.get("text", "") + (f" doi:{c['doi']}" if c.get("doi") else "") for c in rdf.get("cite") or [])
        tags = [str(t).lower() for t in rdf.get("tags") or []]
        task = "denoise" if any("denois" in t for t in tags) else ("upsample" if any(s > 1 for s in scales) else "restore")
        card = ModelCard(
            task=task, method="bioimageio", name=str(rdf.get("name", pkg.stem))[:120],
            axes_in="bczyx" if ndim == 3 else "bcyx", axes_out="bczyx" if ndim == 3 else "bcyx",
            tile_multiple=tuple(steps), tile_halo=tuple(halos), tile_default=tuple(default), scale=tuple(scales),
            norm=norm, denorm=denorm, license=str(rdf.get("license", "")), cite=cites,
            description=str(rdf.get("description", ""))[:500], model_version=str(rdf.get("version", "") or ""),
            train={"source": f"bioimage.io package {pkg.name}" + (f" (id {rdf['id']})" if rdf.get("id") else ""),
                   "axes_in": ",".join(in_names), "axes_out": ",".join(out_names),
                   "preprocessing": json.dumps(inputs[0].get("preprocessing") or []),
                   "postprocessing": json.dumps(outputs[0].get("postprocessing") or []),
                   **({"weights": f"converted to ONNX from {next((k for k in TORCH_KINDS if k in weights), 'its weights')} "
                                  f"({json.dumps(conversion)})"} if conversion else {}),
                   **({"data": str(rdf["training_data"])} if rdf.get("training_data") else {})},
        )
    canon = ["batch", "channel"] + list(SPATIAL[ndim])
    if in_names != canon or out_names != canon:
        proto = _wrap_graph(proto, in_names, out_names, ndim)
    save_with_card(proto, card, out)
    return read_card(out)
