"""A small client of API v1 (the CLI's `--server`); the Java ServerClient mirrors it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from fluorecon.core.atomic import atomic_path
from fluorecon.server.settings import config_dir, read_server_info


def read_token() -> str:
    path = config_dir() / "token"
    if not path.is_file():
        raise RuntimeError(f"No server token at {path}: start the server once with `fluorecon serve`.")
    return path.read_text().strip()


def default_url() -> str:
    info = read_server_info()
    return info["url"] if info else "http://127.0.0.1:8765"


def run_remote(url: str, image_path: Path, output: Path, spec, *, psf_path: Path | None = None,
               progress=None, poll_s: float = 0.2, token: str | None = None) -> dict:
    """Submit a job, follow its progress, download the result to ``output``; returns the job."""
    headers = {"Authorization": f"Bearer {token or read_token()}"}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60) as client:
        files = {"image": (Path(image_path).name, Path(image_path).read_bytes(), "image/tiff")}
        if psf_path is not None:
            files["psf"] = (Path(psf_path).name, Path(psf_path).read_bytes(), "image/tiff")
        try:
            response = client.post("/v1/jobs", data={"spec": spec.model_dump_json()}, files=files)
        except httpx.ConnectError:
            raise RuntimeError(f"No fluorecon server at {url}: start one with `fluorecon serve`.") from None
        if response.status_code != 201:
            raise RuntimeError(f"Server refused the job ({response.status_code}): {response.json().get('detail')}")
        job = response.json()
        while job["state"] in ("queued", "running"):
            time.sleep(poll_s)
            job = client.get(f"/v1/jobs/{job['id']}").json()
            if progress is not None and job["state"] == "running":
                progress(int(job["progress"] * 100), 100)
        if job["state"] != "succeeded":
            raise RuntimeError(f"Job {job['state']}: {job['message']}")
        result = client.get(f"/v1/jobs/{job['id']}/result")
        with atomic_path(Path(output), suffix=".tif.part") as tmp:
            Path(tmp).write_bytes(result.content)
        return job
