"""Helpers for the server tests: a real `fluorecon serve` subprocess, TIFF bytes, job polling."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import tifffile


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, config_dir: Path, *args: str) -> None:
        self.config_dir = config_dir
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "Server":
        env = dict(os.environ, FLUORECON_CONFIG_DIR=str(self.config_dir))
        log = open(self.config_dir / "server.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fluorecon.cli", "serve", "--port", str(self.port), "--device", "cpu", *self.args],
            env=env, stdout=log, stderr=log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.config_dir / "server.log").read_text())
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not start:\n" + (self.config_dir / "server.log").read_text())

    @property
    def token(self) -> str:
        return (self.config_dir / "token").read_text().strip()

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120, **kwargs)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def tiff_bytes(image: np.ndarray, *, axes: str | None = None, pixel_size_um: float = 0.1, z_step_um: float = 0.3) -> bytes:
    import io

    buf = io.BytesIO()
    axes = axes or ("YX" if image.ndim == 2 else "ZYX")
    metadata = {"axes": axes, "unit": "micron"}
    if "Z" in axes:
        metadata["spacing"] = z_step_um
    tifffile.imwrite(buf, np.asarray(image, np.float32), imagej=True, metadata=metadata,
                     resolution=(1 / pixel_size_um, 1 / pixel_size_um))
    return buf.getvalue()


def spec_json(**overrides) -> str:
    import json

    spec = {"method": "rl", "num_iter": 5, "psf": {"na": 1.2, "wavelength_nm": 520}}
    spec.update(overrides)
    return json.dumps(spec)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} still {job['state']}")
