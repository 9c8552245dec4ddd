"""The explorer's web application: the page, its assets and the JSON API it uses.

Routes (all answers to ``/api`` are JSON; an error is ``{"error": "one line"}`` with a
4xx status, and the server goes on serving):

* ``GET /`` and ``GET /assets/<name>``: the page, its script and style, from the package;
* ``GET /api/runs``: the runs served, the split and its classes;
* ``GET /api/images?split=&class=&q=&offset=&limit=``: a page of the split's images with
  every run's sentence;
* ``GET /api/images/<n>/picture``: image ``n`` of the split as a small JPEG;
* ``POST /api/explain``: multipart ``image`` (a photo), optional ``class`` and ``run``.

No route takes a file path from a request: assets are a fixed table read at start, images
are numbers into the split. Model work runs in the thread pool, one request at a time per
run (a model is not re-entrant), so browsing never waits for an explanation.
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gvetool.data.image_features import MAX_PIXELS
from gvetool.explorer.catalog import MAX_PAGE, Catalog, Query
from gvetool.explorer.uploads import MAX_UPLOAD_BYTES, BadUpload, decode_upload
from gvetool.user_api.explainer import Explainer
from gvetool.utils.errors import GvetoolError

LOG = logging.getLogger("gvetool.explorer")
PICTURE = 320  # the browse page's pictures, in pixels (long side)
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class ServedRun:
    """A run the explorer answers for: its name, the loaded model and its lock."""

    name: str
    explainer: Explainer
    lock: threading.Lock = field(default_factory=threading.Lock)

    @functools.cached_property
    def photo_refusal(self) -> str | None:
        """Why this run cannot explain a photo (``None``: it can); asked once."""
        return self.explainer.why_no_photos

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.explainer.model,
            "class_conditioned": self.explainer.class_conditioned,
            "explains_photos": self.photo_refusal is None,
            "why_not": self.photo_refusal,
        }


class BodyLimit:
    """Refuses a request body above ``limit`` bytes: at once from its Content-Length, and
    while it arrives when it is sent in chunks (so a 200 MB body is never held)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _error(400, "Content-Length is not a number")(scope, receive, send)
                return
            if int(declared) > self.limit:
                await _error(413, self._message())(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BadUpload(413, self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"the upload is larger than {self.limit // (1024 * 1024)} MB"


def create_app(
    runs: list[ServedRun],
    catalog: Catalog,
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    loopback_only: bool = True,
) -> ASGIApp:
    """The application over ``runs`` and the split in ``catalog``.

    ``loopback_only`` answers requests addressed to this machine by a loopback name only,
    so a web page elsewhere cannot reach the server through a DNS name it rebinds.
    """
    by_name = {run.name: run for run in runs}
    page = _asset("index.html")
    assets = {name: _asset(name) for name in ASSETS}
    shown = catalog.shown

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            raise HTTPException(404, f"no asset {name!r}")
        return Response(assets[name], media_type=ASSETS[name])

    async def list_runs(request: Request) -> Response:
        return JSONResponse(
            {
                "dataset": shown.dataset,
                "split": shown.split,
                "images": len(catalog),
                "classes": shown.class_names,
                "runs": [run.describe() for run in runs],
                "limits": {"upload_bytes": max_upload_bytes, "pixels": MAX_PIXELS},
            }
        )

    async def images(request: Request) -> Response:
        return JSONResponse(catalog.page(_query(request, catalog)))

    async def picture(request: Request) -> Response:
        index = request.path_params["index"]
        if not 0 <= index < len(catalog):
            raise HTTPException(404, f"no image {index}; the split has {len(catalog)}")
        return Response(await run_in_threadpool(_picture, catalog, index), media_type="image/jpeg")

    async def explain(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != "multipart/form-data":
            raise BadUpload(415, "send the photo as multipart/form-data with a field 'image'")
        try:
            async with request.form(max_files=1, max_fields=4, max_part_size=4096) as form:
                upload = form.get("image")
                if upload is None or isinstance(upload, str):
                    raise BadUpload(400, "the form has no file field 'image'")
                data = await upload.read()
                run = _chosen_run(form.get("run"), runs, by_name)
                class_name = form.get("class")
        except (HTTPException, BadUpload):  # Starlette's 400 for a malformed multipart body
            raise
        except Exception as exc:  # the multipart parser's other ways to say "malformed"
            raise BadUpload(400, f"malformed multipart body: {exc}") from None
        if not isinstance(class_name, (str, type(None))):
            raise BadUpload(400, "'class' must be a text field")
        photo = await run_in_threadpool(decode_upload, data)
        result = await run_in_threadpool(_explain, run, photo, class_name or None)
        return JSONResponse(result)

    routes = [
        Route("/", index),
        Route("/assets/{name}", asset),
        Route("/api/runs", list_runs),
        Route("/api/images", images),
        Route("/api/images/{index:int}/picture", picture),
        Route("/api/explain", explain, methods=["POST"]),
    ]
    middleware = (
        [Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_NAMES)] if loopback_only else []
    )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            HTTPException: _http_error,
            BadUpload: _bad_upload,
            GvetoolError: _gvetool_error,
            Exception: _internal_error,
        },
    )
    return BodyLimit(app, max_upload_bytes)


def _query(request: Request, catalog: Catalog) -> Query:
    params = request.query_params
    split = params.get("split")
    if split and split != catalog.shown.split:
        raise BadUpload(
            400,
            f"this server shows the '{catalog.shown.split}' split; "
            f"start it with --split {split} to browse that one",
        )
    class_name = params.get("class") or None
    if class_name is not None and class_name not in catalog.shown.class_names:
        raise BadUpload(400, f"no class {class_name!r} in the {catalog.shown.split} split")
    offset = _whole(params.get("offset"), "offset", 0)
    limit = _whole(params.get("limit"), "limit", 24)
    if not 1 <= limit <= MAX_PAGE:
        raise BadUpload(400, f"limit must be 1 to {MAX_PAGE}, got {limit}")
    return Query(class_name, params.get("q", "")[:200], offset, limit)


def _whole(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit() or len(text) > 9:
        raise BadUpload(400, f"{name} must be a whole number >= 0, got {text[:20]!r}")
    return int(text)


def _chosen_run(asked: Any, runs: list[ServedRun], by_name: dict[str, ServedRun]) -> ServedRun:
    if asked:
        if not isinstance(asked, str) or asked not in by_name:
            raise BadUpload(400, f"no run {str(asked)[:60]!r}; runs: {', '.join(by_name)}")
        run = by_name[asked]
    else:
        able = [r for r in runs if r.photo_refusal is None]
        run = able[0] if able else runs[0]
    if run.photo_refusal is not None:
        raise BadUpload(422, run.photo_refusal)
    return run


def _explain(run: ServedRun, photo: Image.Image, class_name: str | None) -> dict[str, Any]:
    with run.lock:
        result = run.explainer.explain_photo(photo, class_name)
    counter = (
        {"class": result.counter_class, "explanation": result.counterfactual}
        if result.counter_class is not None
        else None
    )
    return {
        "run": run.name,
        "class": result.explained_class,
        "explanation": result.explanation,
        "counterfactual": counter,
        "ranking": [{"class": name, "probability": p} for name, p in result.ranking],
    }


@functools.lru_cache(maxsize=1024)
def _picture_of(path: str) -> bytes:
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise BadUpload(422, "the image is too large to show")
            image.draft("RGB", (PICTURE, PICTURE))
            small = image.convert("RGB")
            small.thumbnail((PICTURE, PICTURE))
    except FileNotFoundError:
        raise HTTPException(404, "the image file is not where the dataset says") from None
    except (OSError, ValueError, Image.DecompressionBombError):
        raise BadUpload(422, "the image file cannot be read") from None
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _picture(catalog: Catalog, index: int) -> bytes:
    return _picture_of(str(catalog.shown.images[index].path))


def _asset(name: str) -> bytes:
    return resources.files("gvetool.explorer").joinpath("assets", name).read_bytes()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = (
        exc.detail
        if exc.status_code != 404 or exc.detail != "Not Found"
        else (f"no such page: {request.url.path[:80]}")
    )
    return _error(exc.status_code, str(message))


async def _bad_upload(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadUpload)
    return _error(exc.status, exc.message)


async def _gvetool_error(request: Request, exc: Exception) -> Response:
    return _error(422, str(exc))


async def _internal_error(request: Request, exc: Exception) -> Response:
    LOG.exception("internal error answering %s", request.url.path)
    return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")
