"""Downloading release files: streaming, resumable (HTTP Range), checked, extracted safely.

A download goes to ``<name>.partial`` and is renamed into place only when complete and its
checksum matches (MD5 where that is what the dataset publishes, else sha256), so an
interrupted download is resumed, never mistaken for a finished one. A file that fails its
checksum, or an archive that is refused, is deleted with the reason. Offline, the error
gives the URL and what to do by hand.
"""

from __future__ import annotations

import html
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException, IncompleteRead
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from gvetool.utils.archives import safe_extract
from gvetool.utils.errors import GvetoolError, advice_for
from gvetool.utils.files import file_digest
from gvetool.utils.locking import exclusive
from gvetool.utils.progress import progress_bar

CHUNK = 1 << 20
TIMEOUT_S = 30  # per socket read
# A download that brings fewer than STALL_MIN_BYTES in STALL_WINDOW_S is given up (its
# partial file kept): a server trickling a byte at a time never trips the socket timeout.
STALL_WINDOW_S = 120.0
STALL_MIN_BYTES = 64 << 10


DRIVE = "https://drive.google.com"
MAX_PAGE = 2 << 20  # a confirmation page is small; anything larger is not one


@dataclass(frozen=True)
class Resource:
    """One file of a dataset release and what to do with it."""

    url: str
    sha256: str | None = None
    extract: bool = False
    md5: str | None = None  # as published by the dataset (CUB publishes MD5)
    name: str | None = None  # the file's name where the URL does not end with it
    into: str = ""  # extract into this sub-folder of the data root
    drive_id: str | None = None  # a Google Drive file: confirm its large-file page

    @property
    def filename(self) -> str:
        return self.name or urlsplit(self.url).path.rsplit("/", 1)[-1]


def drive_resource(file_id: str, name: str, **options: str | bool) -> Resource:
    """A file shared on Google Drive, fetched through Drive's download endpoint."""
    url = f"{DRIVE}/uc?{urlencode({'export': 'download', 'id': file_id})}"
    return Resource(url, name=name, drive_id=file_id, **options)  # type: ignore[arg-type]


# Cookies matter for Google Drive's older confirmation flow (a download_warning cookie).
_OPENER = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def with_mirror(url: str, mirror: str | None) -> str:
    """``url`` served from ``mirror`` (scheme, host and path prefix), for local mirrors."""
    if not mirror:
        return url
    malformed = GvetoolError(
        f"--mirror {mirror!r} is not a URL like https://host/path (or file:///folder)"
    )
    try:
        base = urlsplit(mirror)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise malformed from None
    if base.scheme not in ("http", "https", "file") or (base.scheme != "file" and not base.netloc):
        raise malformed
    parts = urlsplit(url)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, ""))


def _verify(path: Path, url: str, resource: Resource | None, name: str) -> None:
    """Delete ``path`` and say so when its checksum is not the published one."""
    for algorithm, expected in (
        ("md5", resource and resource.md5),
        ("sha256", resource and resource.sha256),
    ):
        if not expected:
            continue
        digest = file_digest(path, algorithm)
        if digest != expected:
            path.unlink()
            raise GvetoolError(
                f"{name} from {url} has the wrong {algorithm} ({digest}, expected {expected}); "
                "it was deleted — try again, or check the URL or mirror"
            )


def fetch(url: str, destination: Path, resource: Resource | None = None) -> Path:
    """Download ``url`` to ``destination``, resuming a ``.partial`` file if one exists."""
    destination = Path(destination)
    if destination.is_file():  # placed by hand or left by an earlier run: check it too
        _verify(destination, url, resource, destination.name)
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    have = partial.stat().st_size if partial.is_file() else 0
    try:
        with _open_file(url, have, destination, resource) as response:
            resumed = have > 0 and response.status == 206
            if not resumed:
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with (
                open(partial, "ab" if resumed else "wb") as handle,
                progress_bar(total, f"downloading {destination.name}") as advance,
            ):
                advance(have)
                try:
                    got = have + _stream(response, handle, advance, url)
                finally:
                    handle.flush()
                    os.fsync(handle.fileno())
            if total is not None and got < total:
                raise GvetoolError(
                    f"download of {url} broke off after {got} of {total} bytes; the partial "
                    f"download ({partial}) is kept: run the command again to resume it"
                )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the partial is complete
            pass
        else:
            raise GvetoolError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise GvetoolError(
            f"cannot download {url} ({reason}); download it by hand and place it at "
            f"{destination} (a partial download is kept and resumed next time)"
        ) from None
    _verify(partial, url, resource, destination.name)
    os.replace(partial, destination)
    return destination


def _stream(response: Any, handle: Any, advance: Any, url: str) -> int:
    """Copy the body into ``handle`` as it arrives; returns the bytes copied. Gives up
    when less than :data:`STALL_MIN_BYTES` came in the last :data:`STALL_WINDOW_S`."""
    copied, window_start, window_bytes = 0, time.monotonic(), 0
    while True:
        try:
            chunk = response.read1(CHUNK)
        except IncompleteRead as exc:  # hung up early: keep what came
            chunk = exc.partial
            _write(handle, chunk)
            return copied + len(chunk)
        if not chunk:
            return copied
        _write(handle, chunk)
        copied += len(chunk)
        window_bytes += len(chunk)
        advance(len(chunk))
        now = time.monotonic()
        if now - window_start >= STALL_WINDOW_S:
            if window_bytes < STALL_MIN_BYTES:
                raise GvetoolError(
                    f"download of {url} stalled: {window_bytes} bytes in the last "
                    f"{STALL_WINDOW_S:g} s; the partial download is kept: run the command "
                    "again to resume it (or use --mirror)"
                )
            window_start, window_bytes = now, 0


def _write(handle: Any, chunk: bytes) -> None:
    """Append ``chunk`` to the partial download; a disk that refuses it (full, a file-size
    limit or quota) is one line naming the file, which is kept for a resume."""
    try:
        handle.write(chunk)
    except OSError as exc:
        raise GvetoolError(
            f"cannot write {handle.name}: {exc.strerror or exc} ({advice_for(exc)}); the "
            "partial download is kept: run the command again to resume it"
        ) from None


def _open_file(url: str, have: int, destination: Path, resource: Resource | None) -> Any:
    """The response carrying the file, past Google Drive's large-file confirmation page."""
    for _ in range(3):
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        response = _OPENER.open(request, timeout=TIMEOUT_S)
        is_page = response.headers.get_content_type() == "text/html"
        if not (resource and resource.drive_id and is_page):
            return response
        with response:
            page = response.read(MAX_PAGE).decode("utf-8", "replace")
        url = _confirmed_url(url, page, resource, destination)
    raise GvetoolError(f"Google Drive kept answering {resource.filename} with web pages")


def _confirmed_url(url: str, page: str, resource: Resource, destination: Path) -> str:
    """Where Drive's "can't scan this file for viruses" page says the file is."""
    form = re.search(r"<form[^>]*id=\"download-form\"[^>]*action=\"([^\"]+)\"", page)
    if form:
        fields = dict(
            re.findall(r"<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]*)\"", page)
        )
        return f"{urljoin(url, html.unescape(form.group(1)))}?{urlencode(fields)}"
    token = re.search(r"confirm=([0-9A-Za-z_-]+)", page)
    if token:
        return f"{url}&{urlencode({'confirm': token.group(1)})}"
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    raise GvetoolError(
        f"Google Drive did not serve {resource.filename} (it answered with the page "
        f"'{html.unescape(title.group(1).strip()) if title else 'untitled'}', e.g. its download "
        f"quota is exhausted); download it by hand from {DRIVE}/file/d/{resource.drive_id} "
        f"and place it at {destination}"
    )


def download_all(resources: list[Resource], root: Path, mirror: str | None = None) -> None:
    """Fetch every resource into ``root``; archives are extracted there, then deleted.

    A marker file records each finished resource, so rerunning after an interruption
    skips what is done and resumes what is not. One download at a time writes to a root.
    """
    root.mkdir(parents=True, exist_ok=True)
    busy = f"another gvetool data download is writing to {root}; wait for it to finish"
    with exclusive(root, busy):
        for resource in resources:
            _download_one(resource, root, mirror)


def _download_one(resource: Resource, root: Path, mirror: str | None) -> None:
    """One resource: fetched, checked, extracted, marked done (unless it already is)."""
    marker = root / f".{resource.filename}.done"
    if marker.is_file():
        return
    path = fetch(with_mirror(resource.url, mirror), root / resource.filename, resource)
    if resource.extract:
        try:
            safe_extract(path, root / resource.into)
        except GvetoolError as exc:
            path.unlink(missing_ok=True)
            raise GvetoolError(f"{path.name}: {exc}; the archive was deleted") from None
        path.unlink()
    marker.touch()
