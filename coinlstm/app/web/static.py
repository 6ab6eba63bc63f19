"""The static files: a fixed list of the package's own files by name (no path is ever
joined from a request beyond that list), and plotly.js from the installed ``plotly``
package (no CDN: the pages work with no network)."""

from __future__ import annotations

import importlib.resources
from functools import cache

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from coinlstm.app.web.site import HERE

STATIC_FILES = {"style.css": "text/css", "sort.js": "text/javascript",
                "pair.js": "text/javascript", "icon.svg": "image/svg+xml"}

router = APIRouter(prefix="/static", include_in_schema=False)


@cache
def plotly_js() -> bytes:
    """plotly.js from the installed ``plotly`` package (its package data), read once."""
    return (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()


@router.get("/{name}")
def static(name: str = PathParam(pattern=r"^[a-z]+\.(css|js|svg)$")) -> Response:
    if name not in STATIC_FILES:
        raise HTTPException(404, f"no such file: {name}")
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC_FILES[name])


@router.get("/vendor/plotly.min.js")
def plotly() -> Response:
    return Response(plotly_js(), media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=86400"})
