"""Server settings in one object, the bearer token and ``server.json`` in the user's config dir."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

TOKEN_FILE = "token"
SERVER_FILE = "server.json"


def config_dir() -> Path:
    """``$FLUORECON_CONFIG_DIR`` or ``~/.config/fluorecon`` (created, mode 0700)."""
    path = Path(os.environ.get("FLUORECON_CONFIG_DIR") or Path.home() / ".config" / "fluorecon")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def test_hold_dir() -> Path | None:
    """``$FLUORECON_TEST_HOLD_DIR``: for the test suite only, never a CLI flag. While the file ``hold``
    exists in that folder, every job stops at its first report of intermediate progress (0 < done < total,
    stored first), writes ``<job id>.held`` there and waits until ``hold`` is removed, the job is cancelled
    or the server stops, so a test can cancel, kill or watch a job that is certainly running, with no race
    against the clock. Without the variable the worker never looks for the file."""
    value = os.environ.get("FLUORECON_TEST_HOLD_DIR")
    return Path(value) if value else None


def load_or_create_token(directory: Path | None = None) -> str:
    """The bearer token shared with the plugin and CLI; created on first start, mode 0600."""
    path = (directory or config_dir()) / TOKEN_FILE
    if path.is_file():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    # O_EXCL + 0600 at creation: the token is never readable by others, even briefly.
    tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.replace(tmp, path)
    return token


def read_server_info(directory: Path | None = None) -> dict | None:
    path = (directory or config_dir()) / SERVER_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def default_max_image_bytes() -> int:
    """An eighth of this machine's memory: a job holds its input decoded beside several working copies
    (float32 input, estimate, FFT buffers), so a larger input would not fit anyway."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 8
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows)
        return 2 * 1024**3


class Settings(BaseModel):
    """Everything the server is configured with (CLI flags → this object)."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field("127.0.0.1", description="Bind address; loopback only.")
    port: int = Field(8765, ge=0, le=65535, description="TCP port.")
    device: str = Field("auto", description="'cpu', 'cuda' or 'auto' (CUDA when present).")
    workers: int = Field(1, ge=1, le=16, description="Jobs run at once (1 per GPU).")
    dask_scheduler: str | None = Field(None, description="dask.distributed scheduler address for chunked jobs.")
    max_queue: int = Field(64, ge=1, description="Queued jobs beyond which submissions get 503.")
    max_upload_bytes: int = Field(2 * 1024**3, ge=1024, description="Largest request body accepted.")
    max_voxels: int = Field(1024**3, ge=1, description="Largest image accepted (voxels).")
    max_image_bytes: int = Field(default_factory=default_max_image_bytes, ge=1,
                                 description="Largest image accepted, decoded (bytes); checked from the TIFF header.")
    chunk_voxels: int = Field(256 * 1024**2, ge=1, description="Images above this are processed in dask chunks.")
    config_dir: Path = Field(default_factory=config_dir, description="Token, server.json and job data live here.")
    models_dir: Path | None = Field(None, description="Folder of *.onnx models listed by /v1/models.")

    @property
    def data_dir(self) -> Path:
        return self.config_dir / "server-data"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def write_server_info(self) -> None:
        info = {"url": self.url, "pid": os.getpid(), "token_file": str(self.config_dir / TOKEN_FILE)}
        tmp = self.config_dir / f".{SERVER_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(info, indent=2))
        os.replace(tmp, self.config_dir / SERVER_FILE)

    def clear_server_info(self) -> bool:
        """Remove ``server.json`` when it records this process (a newer server's file stays); True if removed.

        Called when the server stops, so that no client reads a dead PID and URL from it."""
        path = self.config_dir / SERVER_FILE
        try:
            if json.loads(path.read_text()).get("pid") != os.getpid():
                return False
            path.unlink()
            return True
        except (OSError, ValueError):
            return False
