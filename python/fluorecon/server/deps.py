"""Dependencies shared by the routers: settings, store, workers and the token check."""

from __future__ import annotations

import secrets

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fluorecon.server.settings import Settings
from fluorecon.server.store import JobStore

_bearer = HTTPBearer(auto_error=False, description="Token from the file `token` in the fluorecon config folder.")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def require_token(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    expected: str = request.app.state.token
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(
            status_code=401,
            detail="Missing or wrong token: send 'Authorization: Bearer <token>' with the token from "
            "the file 'token' in the fluorecon config folder (~/.config/fluorecon).",
            headers={"WWW-Authenticate": "Bearer"},
        )
