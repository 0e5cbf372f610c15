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


class Hold:
    """The server's test-only hold (``FLUORECON_TEST_HOLD_DIR``, set for the whole suite in tests/conftest.py;
    see fluorecon.server.settings.test_hold_dir). While it is on, every job on every test server stops at its
    first report of intermediate progress until the hold is released or the job is cancelled, so a test can
    cancel, kill or watch a job that is certainly running. Use as a context manager: on, then off at exit."""

    def __init__(self) -> None:
        self.dir = Path(os.environ["FLUORECON_TEST_HOLD_DIR"])
        self._seen: set[str] = set()

    def __enter__(self) -> "Hold":
        for old in self.dir.glob("*.held"):
            old.unlink()
        (self.dir / "hold").touch()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        (self.dir / "hold").unlink(missing_ok=True)

    def wait_held(self, timeout: float = 180) -> str:
        """The id of the job that the hold stopped (the first not yet returned by this call); fails after
        ``timeout`` seconds (a bound on a failure, not a synchronisation)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = sorted({p.stem for p in self.dir.glob("*.held")} - self._seen)
            if new:
                self._seen.add(new[0])
                return new[0]
            time.sleep(0.02)
        raise TimeoutError(f"no job reached the test hold in {timeout} s")

    def forget(self, job_id: str) -> None:
        """Lets ``wait_held`` return ``job_id`` again (a job that runs a second time, after a restart)."""
        (self.dir / f"{job_id}.held").unlink()
        self._seen.discard(job_id)


UNMIX_LABELS = ["DAPI", "EGFP", "mCherry"]


def spectral_series(shape=(40, 48), frames: int = 2, photons: float = 300.0, seed: int = 0) -> np.ndarray:
    """A (T, C, Y, X) lambda stack (8 channels, 430–710 nm) of 3 simulated labels, offset 100 ADU."""
    from fluorecon.tasks.unmix.physics import Detector, mixing_matrix, simulate_labels

    mixing = mixing_matrix(UNMIX_LABELS, Detector.lambda_stack(start_nm=430, stop_nm=710, channels=8))
    rng = np.random.default_rng(seed)
    out = []
    for t in range(frames):
        truth = simulate_labels(shape, len(UNMIX_LABELS), seed=seed + t) * photons
        clean = np.tensordot(mixing, truth, axes=([1], [0]))
        out.append(rng.poisson(clean).astype(np.float32) + 100)
    return np.stack(out)


def drifting_series(shape=(64, 64), frames: int = 6, channels: int = 2, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A (T, C, Y, X) time series cut from a drifting field (channel 2 = half of channel 1 + noise), and its drift."""
    from scipy import ndimage

    from fluorecon.tasks.register.physics import apply_drift, simulate_drift
    from fluorecon.imaging.phantoms import phantom

    big = ndimage.gaussian_filter(phantom(tuple(2 * s for s in shape), seed=seed + 2), 1.5) * 500 + 20
    drift = simulate_drift(frames, 2, seed=seed, step_px=0.8, linear_px=0.5)
    crop = tuple(slice(s // 2, s // 2 + s) for s in shape)
    moved = apply_drift(np.stack([big] * frames), drift)[(slice(None), *crop)]
    rng = np.random.default_rng(seed)
    stack = np.stack([rng.poisson(np.clip(moved, 0, None) * (0.5 ** c)) for c in range(channels)], axis=1)
    return stack.astype(np.float32), drift
