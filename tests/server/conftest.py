"""A real `fluorecon serve` on loopback (subprocess, free port, temporary config dir)."""

import pytest
from server_helpers import Server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("fluorecon-config"), "--max-queue", "8", "--max-upload-mb", "1").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def trainer(tmp_path_factory):
    """A server whose models folder is temporary: trained models must not land in the shipped models/."""
    models = tmp_path_factory.mktemp("models")
    srv = Server(tmp_path_factory.mktemp("fluorecon-config"), "--models-dir", str(models)).start()
    srv.models_dir = models
    yield srv
    srv.stop()
