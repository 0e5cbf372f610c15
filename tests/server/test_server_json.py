"""server.json names the running server only: a server stopped with SIGTERM (Server… › stop) or Ctrl-C removes it;
one killed outright leaves it behind with a dead PID (the plugin clears that side, ServerConfigTest)."""

import json
import signal

from server_helpers import Server


def test_stopped_server_removes_its_server_json(tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT):
        server = Server(tmp_path).start()
        info = tmp_path / "server.json"
        assert json.loads(info.read_text())["pid"] == server.proc.pid
        server.proc.send_signal(sig)
        assert server.proc.wait(30) is not None
        assert not info.exists(), f"{sig!r} left {info}: {info.read_text()}"


def test_a_newer_servers_file_is_left_alone(tmp_path):
    from fluorecon.server.settings import Settings

    settings = Settings(config_dir=tmp_path)
    settings.write_server_info()
    assert settings.clear_server_info() and not (tmp_path / "server.json").exists()
    (tmp_path / "server.json").write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": 1}))
    assert not settings.clear_server_info()
    assert (tmp_path / "server.json").exists()
