"""Pure ASGI middleware of the server: the token and the upload size are checked on the request's
headers and byte stream, before FastAPI parses (and spools to disk) a multipart body."""

from __future__ import annotations

import json
import secrets

# Routes anyone on loopback may call: the health check and the API description.
OPEN_PATHS = frozenset({"/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})

TOKEN_HELP = ("Missing or wrong token: send 'Authorization: Bearer <token>' with the token from the file 'token' "
              "in the fluorecon config folder (~/.config/fluorecon).")


def token_matches(authorization: str | None, expected: str) -> bool:
    """True when an ``Authorization`` header value carries ``Bearer <expected>`` (constant-time compare)."""
    if not authorization:
        return False
    scheme, _, credentials = authorization.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(credentials.strip().encode(), expected.encode())


async def _send_json(send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class RequireToken:
    """401 for every request without the bearer token except the open paths and OPTIONS (which only
    lists methods), answered from the headers: the body of a refused request is never read."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        authorization = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        if not token_matches(authorization, self.token):
            return await _send_json(send, 401, TOKEN_HELP, ((b"www-authenticate", b"Bearer"),))
        return await self.app(scope, receive, send)


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 1024**2:g} MiB"


class LimitUploadSize:
    """413 as soon as a request body passes ``max_bytes``: by its Content-Length header, or while a
    chunked body streams in. The app then sees a disconnect, and whatever it answers to the cut-off
    body is dropped: the client gets the 413, never a parser's 400."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    @property
    def message(self) -> str:
        return (f"Upload larger than this server's limit of {_mib(self.max_bytes)} ({self.max_bytes} bytes); "
                "send a smaller image, or start the server with a larger --max-upload-mb.")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await _send_json(send, 413, self.message)
        received = 0
        started = rejected = False

        async def limited_receive():
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    rejected = True
                    if not started:
                        await _send_json(send, 413, self.message)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if rejected:
                return  # the 413 went out already
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise
