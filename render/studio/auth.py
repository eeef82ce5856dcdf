"""The API's guards, as dependencies: the token (every call, when the server has one: always beyond loopback) and
the ``Origin`` of a request that changes something (the server's own host only: a web page elsewhere cannot drive
it from the user's browser)."""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from render.studio.config import StudioConfig

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def studio_config(request: Request) -> StudioConfig:
    return request.app.state.config


def given_token(request: Request) -> str | None:
    """``Authorization: Bearer <token>``, or ``?token=`` (for a browser's EventSource and <img>)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token")


def require_token(request: Request) -> None:
    token = studio_config(request).token
    if token is None:
        return
    given = given_token(request)
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "a token is needed: Authorization: Bearer <token> (printed when the server started)",
                            headers={"WWW-Authenticate": "Bearer"})


def same_origin(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None:  # curl, scripts: no browser involved
        return
    host = request.headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise HTTPException(403, f"Origin {origin} is not this server ({host}): requests that change jobs are "
                                 f"accepted from the server's own pages and from scripts only")
