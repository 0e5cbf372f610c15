"""Fixtures for the bridge tests: a local ImageJ with the built plugin, the shipped model, and the
Python reference prediction the plugin must match (DESIGN.md: within 1e-4 of the output range)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import ijbridge  # noqa: E402

ROOT = ijbridge.ROOT
# Overridable so a jar or model under development can be bridged without touching the tree.
PLUGIN_JAR = Path(os.environ.get("FLUORECON_PLUGIN_JAR", ROOT / "java-plugin" / "target" / "fluorecon_.jar"))
SHIPPED_2D = Path(os.environ.get("FLUORECON_BRIDGE_MODEL", ROOT / "models" / "care_denoise_2d.onnx"))


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.bridge)


@pytest.fixture(scope="session")
def plugin_jar() -> Path:
    if not PLUGIN_JAR.is_file():
        pytest.skip(f"plugin jar not built ({PLUGIN_JAR} missing): run `make build` first")
    return PLUGIN_JAR


@pytest.fixture(scope="session")
def imagej_dir(plugin_jar, tmp_path_factory) -> Path:
    """A fresh ImageJ folder laid out by scripts/install_imagej.py around the built jar."""
    dest = tmp_path_factory.mktemp("imagej")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "install_imagej.py"), "--dest", str(dest),
         "--plugin-jar", str(plugin_jar), "--deps", str(plugin_jar.parent / "deps"), "--models", str(SHIPPED_2D)],
        check=True, timeout=600,
    )
    return dest


@pytest.fixture(scope="session")
def xvfb_run() -> str:
    exe = shutil.which("xvfb-run")
    if exe is None:
        pytest.fail("xvfb-run not found: ImageJ1's menus need a display; install it with `make setup` "
                    "(apt-get install -y xvfb)")
    return exe


@pytest.fixture(scope="session")
def denoise_class(plugin_jar) -> str:
    return ijbridge.command_class(plugin_jar, "Denoise...")


@pytest.fixture(scope="session")
def model_2d() -> Path:
    assert SHIPPED_2D.is_file(), f"shipped model missing: {SHIPPED_2D}"
    return SHIPPED_2D


@pytest.fixture(scope="session")
def model_sha256(model_2d) -> str:
    return hashlib.sha256(model_2d.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def other_task_model(model_2d, tmp_path_factory) -> Path:
    """The shipped denoiser relabelled as a deconvolution model: the plugin must refuse it."""
    from fluorecon.core.modelcard import read_card, write_card

    path = tmp_path_factory.mktemp("models") / "deconvolve_2d.onnx"
    shutil.copy2(model_2d, path)
    card = read_card(path)
    write_card(path, card.model_copy(update={"task": "deconvolve", "name": "not-a-denoiser"}))
    return path


@pytest.fixture(scope="session")
def smlm_imagej_dir(plugin_jar, tmp_path_factory) -> Path:
    """An ImageJ folder with the plugin and the shipped SMLM models (for Localize and Deconvolve tests)."""
    dest = tmp_path_factory.mktemp("imagej-smlm")
    models = [ROOT / "models" / "deepstorm_2d.onnx", ROOT / "models" / "decode_2d.onnx"]
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "install_imagej.py"), "--dest", str(dest),
         "--plugin-jar", str(plugin_jar), "--deps", str(plugin_jar.parent / "deps"),
         "--models", *[str(m) for m in models if m.is_file()]],
        check=True, timeout=600,
    )
    return dest


@pytest.fixture(scope="session")
def headless_jvm(smlm_imagej_dir):
    """The process's headless JVM (JPype starts one per process; an earlier module may have started it)."""
    return ijbridge.start_jvm(ijbridge.plugin_classpath(smlm_imagej_dir), headless=True)


CONFIG_PROPERTY = "fluorecon.config_dir"  # ServerConfig.PROPERTY: the JVM's stand-in for $FLUORECON_CONFIG_DIR


@pytest.fixture(scope="session")
def plugin_server(tmp_path_factory):
    """One real model server with default settings, shared by the bridge modules that need no special flags
    (one start instead of one per module: ~10-30 s each on this machine)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
    from server_helpers import Server

    server = Server(tmp_path_factory.mktemp("fluorecon-config")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def config_dir(headless_jvm, plugin_server):
    """The plugin finds the shared server through the config folder's server.json and token. A module
    that needs its own server flags (e.g. --models-dir) defines its own `config_dir`."""
    from jpype import JClass

    System = JClass("java.lang.System")
    System.setProperty(CONFIG_PROPERTY, str(plugin_server.config_dir))
    yield plugin_server.config_dir
    System.clearProperty(CONFIG_PROPERTY)


@pytest.fixture(scope="session")
def trainer_server(tmp_path_factory):
    """A real model server with its own models folder, for the modules whose commands train (a trained model
    must not land in the shipped models/)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
    from server_helpers import Server

    server = Server(tmp_path_factory.mktemp("fluorecon-config"), "--models-dir",
                    str(tmp_path_factory.mktemp("server-models"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def trainer_config_dir(headless_jvm, trainer_server):
    """`config_dir` for `trainer_server`."""
    from jpype import JClass

    System = JClass("java.lang.System")
    System.setProperty(CONFIG_PROPERTY, str(trainer_server.config_dir))
    yield trainer_server.config_dir
    System.clearProperty(CONFIG_PROPERTY)
