"""Downloading release files: streaming, resumable (HTTP Range), checked, extracted safely.

A download goes to ``<name>.partial`` and is renamed into place only when complete and its
checksum matches (MD5 where that is what the dataset publishes, else sha256), so an
interrupted download is resumed, never mistaken for a finished one. A file that fails its
checksum, or an archive that is refused, is deleted with the reason. Offline, the error
gives the URL and what to do by hand.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gvetool.errors import GvetoolError
from gvetool.io import file_digest, safe_extract
from gvetool.progress import progress_bar

CHUNK = 1 << 20
TIMEOUT_S = 30


@dataclass(frozen=True)
class Resource:
    """One file of a dataset release and what to do with it."""

    url: str
    sha256: str | None = None
    extract: bool = False
    md5: str | None = None  # as published by the dataset (CUB publishes MD5)

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


def _verify(path: Path, url: str, resource: Resource | None) -> None:
    """Delete ``path`` and say so when its checksum is not the published one."""
    for name, expected in (
        ("md5", resource and resource.md5),
        ("sha256", resource and resource.sha256),
    ):
        if not expected:
            continue
        digest = file_digest(path, name)
        if digest != expected:
            path.unlink()
            raise GvetoolError(
                f"{path.name} from {url} has the wrong {name} ({digest}, expected {expected}); "
                "it was deleted — try again, or check the URL or mirror"
            )


def fetch(url: str, destination: Path, resource: Resource | None = None) -> Path:
    """Download ``url`` to ``destination``, resuming a ``.partial`` file if one exists."""
    destination = Path(destination)
    if destination.is_file():  # placed by hand or left by an earlier run: check it too
        _verify(destination, url, resource)
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
    _verify(partial, url, resource)
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
        path = fetch(with_mirror(resource.url, mirror), root / resource.filename, resource)
        if resource.extract:
            try:
                safe_extract(path, root)
            except GvetoolError as exc:
                path.unlink(missing_ok=True)
                raise GvetoolError(f"{path.name}: {exc}; the archive was deleted") from None
            path.unlink()
        marker.touch()
