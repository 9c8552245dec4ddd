"""Downloading release files: streaming, resumable (HTTP Range), checked, extracted safely.

A download goes to ``<name>.partial`` and is renamed into place only when complete (and
its sha256 matches, where known), so an interrupted download is resumed, never mistaken
for a finished one. Offline, the error gives the URL and what to do by hand.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gvetool.errors import GvetoolError
from gvetool.io import safe_extract, sha256
from gvetool.progress import progress_bar

CHUNK = 1 << 20
TIMEOUT_S = 30


@dataclass(frozen=True)
class Resource:
    """One file of a dataset release and what to do with it."""

    url: str
    sha256: str | None = None
    extract: bool = False

    @property
    def filename(self) -> str:
        return urlsplit(self.url).path.rsplit("/", 1)[-1]


def with_mirror(url: str, mirror: str | None) -> str:
    """``url`` served from ``mirror`` (scheme, host and path prefix), for local mirrors."""
    if not mirror:
        return url
    base = urlsplit(mirror)
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, "", ""))


def fetch(url: str, destination: Path, expected_sha256: str | None = None) -> Path:
    """Download ``url`` to ``destination``, resuming a ``.partial`` file if one exists."""
    destination = Path(destination)
    if destination.is_file():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    have = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
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
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    handle.write(chunk)
                    advance(len(chunk))
                handle.flush()
                os.fsync(handle.fileno())
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the partial is complete
            pass
        else:
            raise GvetoolError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GvetoolError(
            f"cannot download {url} ({reason}); download it by hand and place it at "
            f"{destination} (a partial download is kept and resumed next time)"
        ) from None
    if expected_sha256 and sha256(partial) != expected_sha256:
        partial.unlink()
        raise GvetoolError(
            f"{url} downloaded with the wrong sha256 (expected {expected_sha256}); it was "
            "deleted — try again, or check the URL or mirror"
        )
    os.replace(partial, destination)
    return destination


def download_all(resources: list[Resource], root: Path, mirror: str | None = None) -> None:
    """Fetch every resource into ``root``; archives are extracted there, then deleted.

    A marker file records each finished resource, so rerunning after an interruption
    skips what is done and resumes what is not.
    """
    for resource in resources:
        marker = root / f".{resource.filename}.done"
        if marker.is_file():
            continue
        path = fetch(with_mirror(resource.url, mirror), root / resource.filename, resource.sha256)
        if resource.extract:
            safe_extract(path, root)
            path.unlink()
        marker.touch()
