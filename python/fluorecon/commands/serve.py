"""`fluorecon serve`: the local model server (uvicorn, 127.0.0.1 only)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def serve(
    port: int = typer.Option(8765, "--port", help="TCP port on 127.0.0.1."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda."),
    workers: int = typer.Option(1, "--workers", help="Jobs run at once (keep 1 per GPU)."),
    dask_scheduler: Optional[str] = typer.Option(None, "--dask-scheduler", help="dask.distributed scheduler address "
                                                 "(tcp://host:8786) for chunked large jobs."),
    max_queue: int = typer.Option(64, "--max-queue", help="Queued jobs beyond which submissions get 503 + Retry-After."),
    max_upload_mb: float = typer.Option(2048, "--max-upload-mb", help="Largest upload accepted, MiB."),
    max_image_mb: Optional[float] = typer.Option(None, "--max-image-mb", help="Largest image accepted, decoded, "
                                                 "MiB (default: 1/8 of this machine's memory)."),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help="Folder of *.onnx models listed by /v1/models."),
) -> None:
    """Run the model server for the Fiji plugin and `fluorecon deconvolve --server`.

    The bearer token is created on first start in the config folder ($FLUORECON_CONFIG_DIR or
    ~/.config/fluorecon, file 'token', mode 0600); 'server.json' there gives URL and PID.

    Example: fluorecon serve --port 8765 --device cuda
    """
    import os

    # Spinning OpenMP waits collapse when other processes share the cores (measured: 15× slower
    # per RL iteration at load 11 on 2 cores); must be set before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn

    from fluorecon.server.app import create_app
    from fluorecon.server.settings import Settings

    if device not in ("auto", "cpu", "cuda"):
        typer.echo(f"Error: --device {device!r}: use auto, cpu or cuda.", err=True)
        raise typer.Exit(2)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            typer.echo("Error: --device cuda but PyTorch sees no CUDA device; use --device cpu.", err=True)
            raise typer.Exit(2)
    # No implicit ./models: models trained by server jobs must never land in a source checkout.
    limits = {} if max_image_mb is None else {"max_image_bytes": int(max_image_mb * 1024**2)}
    settings = Settings(port=port, device=device, workers=workers, dask_scheduler=dask_scheduler,
                        max_queue=max_queue, max_upload_bytes=int(max_upload_mb * 1024**2), models_dir=models_dir,
                        **limits)
    app = create_app(settings)
    settings.write_server_info()
    typer.echo(f"fluorecon server on {settings.url} (device {settings.resolved_device()}); "
               f"token in {settings.config_dir / 'token'}", err=True)
    uvicorn.run(app, host=settings.host, port=port, log_level="warning")  # the app's shutdown clears server.json


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
