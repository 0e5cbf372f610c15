"""The FastAPI application of the local model server (API v1, see docs/DESIGN.md)."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import fluorecon
from fluorecon.server.routes import health, jobs, models
from fluorecon.server.settings import Settings, load_or_create_token
from fluorecon.server.store import JobStore
from fluorecon.server.worker import Workers


class _TooLarge(Exception):
    pass


class LimitUploadSize:
    """Pure ASGI middleware: 413 as soon as a request body passes ``max_bytes`` (by header or
    while streaming), before anything is parsed or written to disk."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send) -> None:
        body = json.dumps({"detail": f"Upload larger than this server's limit of {self.max_bytes} bytes."}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._reject(send)
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = JobStore(settings.data_dir)
        store.recover()
        workers = Workers(store, settings)
        app.state.store, app.state.workers = store, workers
        workers.start()
        yield
        workers.stop()
        store.close()

    app = FastAPI(
        title="fluorecon model server",
        version=fluorecon.__version__,
        description="Iterative reconstructions (deconvolution, spectral unmixing, drift correction) for the fluorecon "
        "Fiji plugin and CLI; the job types are listed by GET /v1/models. "
        "Every route but /v1/health needs 'Authorization: Bearer <token>'.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.token = load_or_create_token(settings.config_dir)
    app.add_middleware(LimitUploadSize, max_bytes=settings.max_upload_bytes)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        return JSONResponse(status_code=422, content={"detail": f"Invalid request: {problems}"})

    for module in (health, models, jobs):
        app.include_router(module.router)
    return app
