import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The server's test-only hold (fluorecon.server.settings.test_hold_dir), set before any server or JVM
# starts so that every server a test starts, directly or through the plugin, inherits it. It is inert
# until a test switches it on (tests/server/server_helpers.py: Hold).
if "FLUORECON_TEST_HOLD_DIR" not in os.environ:
    os.environ["FLUORECON_TEST_HOLD_DIR"] = tempfile.mkdtemp(prefix="fluorecon-hold-")
    atexit.register(shutil.rmtree, os.environ["FLUORECON_TEST_HOLD_DIR"], True)

# fluorecon's disk cache (light-field PSFs) goes to a folder of this test session, never the user's
# ~/.cache: tests must not fill or depend on it (fluorecon.core.cache).
if "FLUORECON_CACHE_DIR" not in os.environ:
    os.environ["FLUORECON_CACHE_DIR"] = tempfile.mkdtemp(prefix="fluorecon-cache-")
    atexit.register(shutil.rmtree, os.environ["FLUORECON_CACHE_DIR"], True)

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "vectors"


@pytest.fixture(scope="session")
def vectors() -> Path:
    return VECTORS


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
