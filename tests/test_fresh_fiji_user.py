"""The fresh Fiji user's path, scripted: the update site's zip unpacked into a clean ImageJ folder, then one macro
that runs Server… › Set up (a venv, the fluorecon wheel that `make dist` built, recorded, server started),
Deconvolve… on the server, and Server… › stop. The result equals `fluorecon deconvolve` on the same image.

Real: the wheel (pip wheel of this checkout), the clean ImageJ with the dist's jars, `python -m venv`,
`pip install` of the wheel into the venv (the server then imports fluorecon from the venv, checked), the server
process started by the plugin on loopback, the RL deconvolution, the stop and its server.json cleanup.
Shortcut (no network in tests, and PyTorch is 200+ MB): the venv sees the project venv's installed packages through
a .pth file written before Set up runs, and Set up is told torch=skip and pip_options=[--no-deps --no-index], so
pip resolves nothing online. A user's Set up downloads PyTorch (CPU) and the wheel's dependencies instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

ROOT = Path(__file__).resolve().parents[1]
JAR = ROOT / "java-plugin" / "target" / "fluorecon_.jar"
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "bridge"))
sys.path.insert(0, str(ROOT / "tests" / "server"))

pytestmark = [
    pytest.mark.skipif(not JAR.is_file(), reason="plugin jar not built (make build)"),
    pytest.mark.skipif(shutil.which("java") is None or shutil.which("xvfb-run") is None,
                       reason="needs java and xvfb-run (make setup)"),
    pytest.mark.slow,
]


def _base_python() -> str:
    """The interpreter this test's venv was made from (a venv's python cannot be the base of another)."""
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "executable":
                return value.strip()
    return sys.executable


def test_update_site_then_set_up_then_deconvolve(tmp_path):
    import install_imagej
    import make_dist
    from ijbridge import assert_matches, run_cli
    from server_helpers import free_port
    from test_server_client import blurred_spots

    wheel = make_dist.build_wheel(tmp_path / "python")
    archive = make_dist.build(tmp_path / "dist", plugin_jar=JAR, deps_dir=JAR.parent / "deps",
                              models_dir=ROOT / "models", wheel=wheel)
    ij = tmp_path / "Fiji.app"
    ij.mkdir()
    (jar,) = [p for p in install_imagej.resolve([("net.imagej", "ij", install_imagej.IJ_VERSION)], tmp_path / "m2")
              if p.name.startswith("ij-")]
    shutil.copy2(jar, ij / "ij.jar")
    zipfile.ZipFile(archive).extractall(ij)
    assert (ij / "lib" / "fluorecon" / wheel.name).is_file()

    base = _base_python()
    venv = tmp_path / "fluorecon-python"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)  # the shortcut's .pth goes in here
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "project-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    image = blurred_spots((48, 56), seed=4)
    src = tmp_path / "cells.tif"
    tifffile.imwrite(src, image, imagej=True, metadata={"axes": "YX", "unit": "micron"}, resolution=(10.0, 10.0))
    out = tmp_path / "deconvolved.tif"
    config = tmp_path / "config"
    port = free_port()
    macro = tmp_path / "fresh-user.ijm"
    macro.write_text(
        f'run("Server...", "action=[set up] base_python=[{base}] venv=[{venv}] torch=skip '
        f'pip_options=[--no-deps --no-index] port={port}");\n'
        f'open("{src}");\n'
        f'run("Deconvolve...", "method=rl iterations=5 psf=[theoretical] na=1.2 wavelength_nm=520 ni=1.515 ns=1.33 '
        f'save=[{out}]");\n'
        f'run("Server...", "action=stop");\n'
        f'print("fresh user path done");\n')
    cmd = ["xvfb-run", "-a", "java", "-Xmx1g", f"-Dij.dir={ij}", f"-Dplugins.dir={ij}",
           f"-Dfluorecon.config_dir={config}", "-cp", f"{ij / 'ij.jar'}:{ij / 'jars'}/*:{ij / 'jars' / 'linux64'}/*",
           "ij.ImageJ", "-ijpath", str(ij), "-batch", str(macro)]
    try:
        # a Fiji user has no PYTHONPATH pointing at a checkout: the server must run the wheel's fluorecon
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    finally:  # never leave a server behind, whatever failed
        info = config / "server.json"
        if info.is_file():
            subprocess.run(["kill", str(json.loads(info.read_text())["pid"])], check=False)
    log = run.stdout + run.stderr + ((config / "setup.log").read_text() if (config / "setup.log").is_file() else "")
    assert "fresh user path done" in run.stdout + run.stderr, log

    recorded = json.loads((config / "setup.json").read_text())
    assert recorded == {"python": str(venv / "bin" / "python"), "venv": str(venv),
                        "wheel": str(ij / "lib" / "fluorecon" / wheel.name), "torch": "skip"}
    setup_log = (config / "setup.log").read_text()
    assert f"from {site}/fluorecon/__init__.py" in setup_log, setup_log  # the wheel's fluorecon, not the checkout's
    assert "Set up " in log and "and started: fluorecon server" in log, log
    assert not (config / "server.json").exists(), "the stopped server left server.json"

    cli_out = tmp_path / "cli.tif"
    run_cli("deconvolve", str(src), str(cli_out), "--method", "rl", "--num-iter", "5", "--na", "1.2",
            "--wavelength-nm", "520", "--device", "cpu")
    assert_matches(np.asarray(tifffile.imread(out), np.float32), tifffile.imread(cli_out))
