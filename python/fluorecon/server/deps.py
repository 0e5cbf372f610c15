"""Dependencies shared by the routers: settings, store, workers and the token check."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fluorecon.server.middleware import TOKEN_HELP, token_matches
from fluorecon.server.settings import Settings
from fluorecon.server.store import JobStore

_bearer = HTTPBearer(auto_error=False, description="Token from the file `token` in the fluorecon config folder.")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def require_token(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """The token check as the routes declare it (it puts the bearer scheme and the 401 in the OpenAPI
    description); ``middleware.RequireToken`` has already refused a request without it, body unread."""
    given = f"Bearer {credentials.credentials}" if credentials is not None else None
    if not token_matches(given, request.app.state.token):
        raise HTTPException(status_code=401, detail=TOKEN_HELP, headers={"WWW-Authenticate": "Bearer"})
