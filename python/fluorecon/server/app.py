"""The FastAPI application of the local model server (API v1, see docs/DESIGN.md)."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import fluorecon
from fluorecon.server.middleware import LimitUploadSize, RequireToken
from fluorecon.server.routes import health, jobs, models
from fluorecon.server.settings import Settings, load_or_create_token
from fluorecon.server.store import JobStore
from fluorecon.server.worker import Workers


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
        # Shutdown (SIGTERM from Server… › stop, Ctrl-C): uvicorn re-raises the signal after this, so clean here.
        settings.clear_server_info()
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
    # Added last = outermost: the token is checked before the size, and both before any body is read.
    app.add_middleware(LimitUploadSize, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RequireToken, token=app.state.token)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(e) for e in err.errors())
        return JSONResponse(status_code=422, content={"detail": f"Invalid request: {problems}"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code != 405:
            return await http_exception_handler(request, err)
        # Starlette's 405 names the methods of the first route that matched the path only; the Allow
        # header lists every method the API description gives the path, and OPTIONS answers with it.
        starlette_allow = (err.headers or {}).get("Allow", "")
        allowed = (_documented_methods(app, request.url.path) or set(starlette_allow.split(", "))) | {"OPTIONS"}
        allowed.discard("")
        allow = ", ".join(sorted(allowed))
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        return JSONResponse(status_code=405, headers={"Allow": allow},
                            content={"detail": f"{request.method} is not allowed on {request.url.path}; use {allow}."})

    for module in (health, models, jobs):
        app.include_router(module.router)
    return app


def _problem(error: dict) -> str:
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] == "missing" and tuple(error["loc"]) == ("body", "spec"):
        # multipart forms carry no null: an empty field is a missing one
        return f"{where}: Field required (put the job's spec, a non-empty JSON object, in the form field 'spec')"
    return f"{where}: {error['msg']}"


def _documented_methods(app: FastAPI, path: str) -> set[str]:
    """The methods the OpenAPI description gives the path template that matches ``path``."""
    static: set[str] = set()
    templated: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        pattern = "".join(r"[^/]+" if part.startswith("{") else re.escape(part)
                          for part in re.split(r"(\{[^}]+\})", template))
        if re.fullmatch(pattern, path):
            (templated if "{" in template else static).update(m.upper() for m in operations)
    # a path that is a route of its own (/v1/jobs/local) is not also "the job named local"
    return static or templated
