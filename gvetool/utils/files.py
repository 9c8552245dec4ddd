"""Safe file handling: atomic writes, JSON and text read with one-line errors, digests.

Every file gvetool writes goes through :func:`atomic_write` (temp file in the same
directory, fsync, ``os.replace``), so an interrupted run or a full disk never leaves a
half-written checkpoint, vocabulary or feature store where a good one used to be.
The restricted unpickler is :mod:`gvetool.utils.safe_pickle`; archive extraction is
:mod:`gvetool.utils.archives`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from gvetool.utils.errors import GvetoolError

_TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (its temp files are not stale)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(target: Path) -> None:
    """Delete temp files that killed writes to ``target`` left behind.

    A temp file is named ``.<name>.<pid>.<random>.tmp``; one whose writing process is gone
    (or that predates the pid in the name) is stale. A live writer's file is left alone.
    """
    pattern = re.compile(rf"^{re.escape(f'.{target.name}.')}(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp$")
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        match = pattern.match(entry.name)
        if match and not (match.group(1) and process_alive(int(match.group(1)))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success it replaces ``path`` in one step.

    On any exception the temp file is removed and ``path`` is untouched. ``OSError`` from
    the write (disk full, permission denied) becomes a one-line :class:`GvetoolError`. The
    file gets the mode a plain ``open()`` would give under the umask (mkstemp's 0600
    would hide checkpoints and reports from labmates and web servers), and temp files of
    earlier writes that were killed are removed first.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=_TEMP_SUFFIX
        )
    except OSError as exc:
        raise GvetoolError(f"cannot write {target}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GvetoolError(
            f"cannot write {target}: {exc.strerror or exc} (nothing was overwritten"
            f"{free_space_note(target)})"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def free_space_note(target: Path) -> str:
    """``"; N MiB free in FOLDER"``, to end an error about writing ``target``."""
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        return ""
    return f"; {free / 2**20:.0f} MiB free in {target.parent}"


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically: readers see the old file or the whole new one."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = None) -> None:
    """Write ``obj`` as JSON (one trailing newline) to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=indent) + "\n")


@contextlib.contextmanager
def reading(
    path: str | os.PathLike[str],
    what: str = "file",
    error: type[GvetoolError] = GvetoolError,
    hint: str = "",
) -> Iterator[None]:
    """Around reading ``path``: any OS or encoding fault becomes one ``error`` line naming
    the ``what`` and the cause, the same wording for every file gvetool reads (``hint``
    ends the line of a missing one: where to get it)."""
    try:
        yield
    except FileNotFoundError:
        raise error(f"missing {what} {path}{hint}") from None
    except IsADirectoryError:
        raise error(f"{path} is a folder, a {what} was expected") from None
    except PermissionError:
        raise error(f"cannot read {path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise error(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None


def read_text(path: str | os.PathLike[str], what: str = "") -> str:
    """A UTF-8 text file; missing, unreadable or not UTF-8 is one line naming the file
    (``what`` ends the line of a missing one)."""
    with reading(path, hint=what):
        return Path(path).read_text(encoding="utf-8")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a missing or invalid file is one line naming file and position."""
    with reading(path), open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as exc:
            raise GvetoolError(
                f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                f"{exc.msg}); it may be truncated — download or regenerate it"
            ) from None


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks (archives are gigabytes)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256(path: str | os.PathLike[str]) -> str:
    return file_digest(path, "sha256")
