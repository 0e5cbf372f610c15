"""A real `fluorecon serve` on loopback (subprocess, free port, temporary config dir)."""

import pytest
from server_helpers import Server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("fluorecon-config"), "--max-queue", "8", "--max-upload-mb", "1").start()
    yield srv
    srv.stop()
