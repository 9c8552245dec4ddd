"""Extracting a downloaded archive safely: nothing outside the target folder, no
member that expands beyond a ratio or a total, no name a filesystem cannot hold."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import free_space_note, process_alive

NAME_MAX = 255  # bytes in one path component (Linux, macOS)
PATH_MAX = 4096  # bytes in a whole path (Linux)


def _inside(root: Path, candidate: Path, name: str) -> None:
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise GvetoolError(f"refused archive member escaping the target directory: {name}")


def _check_member(root: Path, name: str) -> None:
    """Refuse absolute paths, ``..`` escapes and names no filesystem can hold."""
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        raise GvetoolError(f"refused archive member with an absolute path: {name}")
    encoded = os.fsencode(name)
    too_long = any(len(part) > NAME_MAX for part in encoded.split(b"/"))
    if too_long or len(os.fsencode(str(root))) + 1 + len(encoded) >= PATH_MAX:
        raise GvetoolError(f"refused archive member with an over-long path: {name[:80]}...")
    _inside(root, root / name, name)


def _open_tar(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive)
    except tarfile.TarError as exc:
        raise GvetoolError(f"{archive} is not a tar or zip archive ({exc})") from None


def _members(archive: Path, root: Path) -> list[Any]:
    """Every member, checked before anything is written; links are refused outright.

    No dataset release gvetool downloads contains links, and refusing them is the one
    rule that cannot be escaped on any Python (tarfile's own ``data`` filter only exists
    from 3.10.12 / 3.11.4, and a chain of links that each stay inside can still point
    outside once all are extracted).
    """
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members: list[Any] = zf.infolist()
        _check_expansion(archive, root, [info.file_size for info in members])
        for info in members:
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise GvetoolError(f"refused link in archive: {info.filename}")
            _check_member(root, info.filename)
        return members
    with _open_tar(archive) as tf:
        members = []
        for member in tf:  # counted while listed: a member bomb stops at the limit
            members.append(member)
            if len(members) > MAX_MEMBERS:
                raise GvetoolError(f"refused {archive.name}: more than {MAX_MEMBERS} members")
    _check_expansion(archive, root, [member.size for member in members])
    for member in members:
        if member.issym() or member.islnk():
            raise GvetoolError(f"refused link in archive: {member.name} -> {member.linkname}")
        if not (member.isfile() or member.isdir()):
            raise GvetoolError(f"refused special file in archive: {member.name}")
        _check_member(root, member.name)
    return members


MAX_MEMBERS = 2_000_000  # COCO's largest archive has about 83,000
MAX_EXPANSION = 100  # uncompressed / archive size; dataset archives (images, text) ~1-10x


def _size(n: float) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _check_expansion(archive: Path, root: Path, sizes: list[int]) -> None:
    """Refuse an archive whose members add up to far more than itself (a decompression
    bomb) or to more than the disk has free, before anything is written."""
    if len(sizes) > MAX_MEMBERS:
        raise GvetoolError(f"refused {archive.name}: more than {MAX_MEMBERS} members")
    total, packed = sum(sizes), archive.stat().st_size
    if total > MAX_EXPANSION * packed + (1 << 20):
        raise GvetoolError(
            f"refused {archive.name}: it would expand to {_size(total)} from {_size(packed)} "
            f"({total / max(1, packed):.0f}x; a dataset archive expands at most "
            f"{MAX_EXPANSION}x) — it is damaged or malicious"
        )
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return
    if total > free:
        raise GvetoolError(
            f"{archive.name} needs {_size(total)} to extract and {root} has {_size(free)} "
            "free; free some space and run the command again"
        )


# The "data" filter (Python >= 3.10.12 / 3.11.4) re-checks what we check, as a second line.
_TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def safe_extract(
    archive: str | os.PathLike[str],
    target: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Extract a tar or zip archive into ``target``, all or nothing.

    Every member is checked first (no absolute paths, no ``..``, no links, no special
    files, no over-long names); then the archive is extracted into a staging folder inside
    ``target`` and its files are moved into place only once all are out, so a refused or
    interrupted extraction leaves nothing behind.
    """
    archive, root = Path(archive), Path(target)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    members = _members(archive, root)
    for stale in root.glob(".extracting-*-*"):  # left by a killed extraction
        pid = stale.name.split("-")[1]
        if not (pid.isdigit() and process_alive(int(pid))):
            shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".extracting-{os.getpid()}-", dir=root))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in members:
                    zf.extract(info, staging)
                    if progress:
                        progress(1)
        else:
            with _open_tar(archive) as tf:
                for member in members:
                    tf.extract(member, staging, set_attrs=False, **_TAR_FILTER)
                    if progress:
                        progress(1)
        _move_into(staging, root)
    except OSError as exc:
        raise GvetoolError(
            f"cannot extract {archive.name} into {root}: {exc.strerror or exc}"
            f"{free_space_note(root / archive.name)}"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into(staging: Path, root: Path) -> None:
    """Move every extracted file into ``root``, merging with folders already there."""
    for folder, _, files in os.walk(staging):
        destination = root / Path(folder).relative_to(staging)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            os.replace(Path(folder) / name, destination / name)
