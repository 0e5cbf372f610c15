"""Drive the fluorecon ImageJ plugin from Python through JPype (used by tests/bridge and bench/).

The recipe is the one DESIGN.md records ("Bridge recipe"): in a headless JVM, ``IJ.run`` cannot
find menu commands, so the plugin class is called directly with the current thread named
``Run$_...`` and its options registered with ``Macro.setOptions`` — ImageJ then reads parameters
from the options string instead of building a dialog. Under Xvfb (JVM not headless),
``IJ.run(imp, "Denoise...", options)`` is the real user path.

JPype starts one JVM per process, so every function here works in the JVM that
:func:`start_jvm` started; scenarios needing another JVM run in a subprocess.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import ijrun  # noqa: E402  (the macro runner the demo uses too: timeouts, no hang on dialogs)
IMAGEJ_AXES = "TZCYX"


def plugin_classpath(imagej_dir: Path) -> list[str]:
    """ij.jar, the plugin jar and its runtime jars of a folder made by scripts/install_imagej.py."""
    imagej_dir = Path(imagej_dir)
    jars = [imagej_dir / "ij.jar", imagej_dir / "plugins" / "fluorecon_.jar"]
    jars += sorted((imagej_dir / "jars").glob("*.jar"))
    return [str(j) for j in jars]


def command_class(plugin_jar: Path, command: str) -> str:
    """Class implementing menu ``command`` (e.g. ``"Denoise..."``), read from the jar's plugins.config."""
    with zipfile.ZipFile(plugin_jar) as jar:
        config = jar.read("plugins.config").decode("utf-8")
    for line in config.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[1].strip('"') == command:
            entry = parts[2].strip()  # org.fluorecon.ij.Launch("the.command.Class"): the Java-version guard
            return entry.split('("', 1)[1].rstrip('")') if '("' in entry else entry
    raise LookupError(f"No command {command!r} in {plugin_jar}!plugins.config:\n{config}")


def start_jvm(classpath: list[str], *, headless: bool = True, max_heap: str = "4g", extra: tuple[str, ...] = ()):
    """Start the process's JVM (once) with ``classpath``; return the ``jpype`` module."""
    import jpype

    if jpype.isJVMStarted():
        return jpype
    args = [f"-Xmx{max_heap}", f"-Djava.awt.headless={'true' if headless else 'false'}", *extra]
    jpype.startJVM(*args, classpath=classpath, convertStrings=True)
    return jpype


# --- numpy <-> ImagePlus -------------------------------------------------------------------------

def _processor(plane: np.ndarray):
    from jpype import JArray, JByte, JClass, JFloat, JShort

    h, w = plane.shape
    if plane.dtype == np.uint8:
        return JClass("ij.process.ByteProcessor")(w, h, JArray(JByte)(np.ascontiguousarray(plane).view(np.int8).ravel()))
    if plane.dtype == np.uint16:
        pixels = JArray(JShort)(np.ascontiguousarray(plane).view(np.int16).ravel())
        return JClass("ij.process.ShortProcessor")(w, h, pixels, None)
    if plane.dtype == np.float32:
        return JClass("ij.process.FloatProcessor")(w, h, JArray(JFloat)(np.ascontiguousarray(plane).ravel()))
    raise TypeError(f"ImagePlus from numpy needs uint8, uint16 or float32 planes, got {plane.dtype}")


def to_imageplus(image: np.ndarray, axes: str, *, title: str = "bridge",
                 pixel_size_um: float | None = None, z_step_um: float | None = None,
                 frame_interval_s: float | None = None):
    """ImagePlus from ``image`` whose ``axes`` are a subset of TZCYX ending in YX."""
    from jpype import JClass

    axes = axes.upper()
    if not axes.endswith("YX") or any(a not in IMAGEJ_AXES for a in axes):
        raise ValueError(f"axes must be a subset of TZCYX ending in YX, got {axes!r}")
    full = image
    for ax in IMAGEJ_AXES:
        if ax not in axes:
            full = full[np.newaxis]
            axes = ax + axes
    order = [axes.index(a) for a in IMAGEJ_AXES]
    full = np.transpose(full, order)  # T, Z, C, Y, X
    t, z, c, h, w = full.shape
    stack = JClass("ij.ImageStack")(w, h)
    # ImageJ stack order: channel fastest, then slice, then frame.
    for ti in range(t):
        for zi in range(z):
            for ci in range(c):
                stack.addSlice("", _processor(full[ti, zi, ci]))
    imp = JClass("ij.ImagePlus")(title, stack)
    imp.setDimensions(c, z, t)
    if sum(n > 1 for n in (c, z, t)) > 1 or c > 1:
        imp.setOpenAsHyperStack(True)
    cal = imp.getCalibration()
    if pixel_size_um is not None:
        cal.pixelWidth = cal.pixelHeight = pixel_size_um
        cal.setUnit("micron")
    if z_step_um is not None:
        cal.pixelDepth = z_step_um
    if frame_interval_s is not None:
        cal.frameInterval = frame_interval_s
        cal.setTimeUnit("sec")
    return imp


def from_imageplus(imp) -> np.ndarray:
    """Pixels of ``imp`` as a (T, Z, C, Y, X) array of the ImagePlus's type."""
    c, z, t = imp.getNChannels(), imp.getNSlices(), imp.getNFrames()
    w, h = imp.getWidth(), imp.getHeight()
    stack = imp.getStack()
    planes = []
    for i in range(1, stack.getSize() + 1):
        arr = np.array(stack.getPixels(i), copy=True)
        if arr.dtype == np.int16:
            arr = arr.view(np.uint16)
        elif arr.dtype == np.int8:
            arr = arr.view(np.uint8)
        planes.append(arr.reshape(h, w))
    return np.stack(planes).reshape(t, z, c, h, w)


# --- test data and the Python reference ---------------------------------------------------------

TILE = 64


def noisy_planes(shape: tuple[int, ...], *, seed: int, dtype=np.uint16) -> np.ndarray:
    """Seeded low-photon images of blurred spots, ``shape`` = (..., Y, X)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    planes = []
    for _ in range(int(np.prod(shape[:-2], dtype=int))):
        truth = np.zeros(shape[-2:], np.float32)
        ys = rng.integers(0, shape[-2], 25)
        xs = rng.integers(0, shape[-1], 25)
        truth[ys, xs] = rng.uniform(200, 800, 25)
        truth = gaussian_filter(truth, 1.5) * 20 + 10
        planes.append(rng.poisson(truth) + 100)
    image = np.stack(planes).reshape(shape)
    if dtype == np.uint8:
        image = np.clip(image / image.max() * 255, 0, 255)
    return image.astype(dtype)


def python_reference(image_tzcyx: np.ndarray, model: Path, *, tile: int = TILE, threads: int = 2) -> np.ndarray:
    """``fluorecon.infer.predict`` on a (T, Z, C, Y, X) array, as float32: what the plugin must match.

    A 2D model runs on every YX plane with per-plane normalization (DESIGN.md: "one channel of
    one time point").
    """
    from fluorecon.infer import predict

    return np.asarray(predict(image_tzcyx, model, axes="TZCYX", tile=tile, threads=threads), np.float32)


def assert_matches(actual: np.ndarray, expected: np.ndarray, *, rel: float = 1e-4) -> None:
    """``actual`` equals ``expected`` within ``rel`` of the expected output range."""
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    span = float(expected.max() - expected.min())
    diff = float(np.max(np.abs(actual.astype(np.float64) - expected)))
    assert diff <= rel * span, f"max |plugin - python| = {diff:.3g} > {rel} x range {span:.3g}"


# --- running the plugin --------------------------------------------------------------------------

def run_command_direct(class_name: str, imp, options: str, *, command: str = "Denoise..."):
    """Run plugin ``class_name`` on ``imp`` in a headless JVM with macro ``options``.

    Returns the image the plugin made current (its output), or None. Exceptions thrown by the
    plugin propagate as Python exceptions carrying the Java message.
    """
    from jpype import JClass

    Thread = JClass("java.lang.Thread")
    Macro = JClass("ij.Macro")
    WindowManager = JClass("ij.WindowManager")
    Interpreter = JClass("ij.macro.Interpreter")
    thread = Thread.currentThread()
    old_name = thread.getName()
    # Macro.getOptions() only answers on threads named "Run$_..." (how ImageJ marks macro calls).
    thread.setName("Run$_fluorecon_bridge")
    Macro.setOptions(thread, options if options.endswith(" ") else options + " ")
    Interpreter.batchMode = True
    WindowManager.setTempCurrentImage(imp)
    try:
        plugin = JClass(class_name)()
        if isinstance(plugin, JClass("ij.plugin.filter.PlugInFilter")):
            JClass("ij.plugin.filter.PlugInFilterRunner")(plugin, command, "")
        else:
            plugin.run("")
        out = WindowManager.getCurrentImage()
        return None if out is None or out.equals(imp) else out
    finally:
        Macro.setOptions(thread, None)
        WindowManager.setTempCurrentImage(None)
        thread.setName(old_name)


def options_string(**opts) -> str:
    """ImageJ macro options: ``key=value`` pairs, bracketed when the value has spaces, bare flags for True."""
    parts = []
    for key, value in opts.items():
        if value is False or value is None:
            continue
        if value is True:
            parts.append(key)
            continue
        text = str(value)
        parts.append(f"{key}=[{text}]" if " " in text else f"{key}={text}")
    return " ".join(parts)


def hard_exit(code: int = 0) -> None:
    """Leave a JPype process without JVM shutdown (AWT threads under Xvfb keep it alive otherwise)."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_cli(*args) -> str:
    """`fluorecon ARGS` in this process (typer's runner): the CLI itself, without a second interpreter start."""
    from typer.testing import CliRunner

    from fluorecon.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def run_plugin(plugin_jar, command, imp, options, created=None):
    """The command's class on this thread as ImageJ's macro runner calls it (headless: `Run$_` thread
    name + Macro.setOptions); returns the plugin object for its getters. ``created(plugin)``, when given,
    is called before the run (for a test thread that watches the run, e.g. ``getProgressShown()``)."""
    from jpype import JClass

    Thread, Macro, Interpreter = JClass("java.lang.Thread"), JClass("ij.Macro"), JClass("ij.macro.Interpreter")
    thread = Thread.currentThread()
    old = thread.getName()
    thread.setName("Run$_fluorecon_bridge")
    Macro.setOptions(thread, options + " ")
    Interpreter.batchMode = True
    plugin = JClass(command_class(plugin_jar, command))()
    if created is not None:
        created(plugin)
    try:
        if imp is not None:
            plugin.setImage(imp)
        plugin.run("")
        return plugin
    finally:
        Macro.setOptions(thread, None)
        thread.setName(old)
