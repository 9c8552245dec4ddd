"""Safe file handling: atomic writes, restricted unpickling, checksums, archive extraction.

Every file gvetool writes goes through :func:`atomic_write` (temp file in the same
directory, fsync, ``os.replace``), so an interrupted run or a full disk never leaves a
half-written checkpoint, vocabulary or feature store where a good one used to be.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from gvetool.errors import GvetoolError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success it replaces ``path`` in one step.

    On any exception the temp file is removed and ``path`` is untouched. ``OSError`` from
    the write (disk full, permission denied) becomes a one-line :class:`GvetoolError`.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise GvetoolError(f"cannot write {target}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GvetoolError(
            f"cannot write {target}: {exc.strerror or exc} (nothing was overwritten)"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(text)


def write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = None) -> None:
    write_text(path, json.dumps(obj, indent=indent) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a missing or invalid file is one line naming file and position."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise GvetoolError(f"missing file {path}") from None
    except json.JSONDecodeError as exc:
        raise GvetoolError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "it may be truncated — download or regenerate it"
        ) from None
    except UnicodeDecodeError as exc:
        raise GvetoolError(f"{path} is not UTF-8 text JSON ({exc.reason})") from None


def sha256(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- restricted unpickling -------------------------------------------------------------

# Exactly what the CUB release pickles (python 2, protocol 2, dicts of numpy arrays and
# ints) need to be rebuilt. Anything else — os.system, eval, subprocess — is refused
# before it can run.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("builtins", "dict"),
    ("builtins", "str"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("__builtin__", "dict"),
    ("__builtin__", "str"),
    ("__builtin__", "int"),
    ("__builtin__", "float"),
    ("copy_reg", "_reconstructor"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays, dicts, strings and numbers."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}")
        if module == "__builtin__":
            module = "builtins"
        if module == "copy_reg":
            module = "copyreg"
        return super().find_class(module, name)


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Load a legacy pickle (python 2 / latin1 aware) allowing only plain data."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return RestrictedUnpickler(io.BufferedReader(handle), encoding="latin1").load()
    except FileNotFoundError:
        raise GvetoolError(f"missing file {path}") from None
    except pickle.UnpicklingError as exc:
        raise GvetoolError(
            f"{path} is not a plain-data pickle ({exc}); it was not loaded — "
            "only numpy arrays, dicts, strings and numbers are accepted"
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise GvetoolError(
            f"{path} is truncated or corrupt ({type(exc).__name__}: {exc})"
        ) from None


# --- safe archive extraction -----------------------------------------------------------


def _inside(root: Path, candidate: Path, name: str) -> None:
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise GvetoolError(f"refused archive member escaping the target directory: {name}")


def _check_member(root: Path, name: str, link: str | None = None, hard: bool = False) -> None:
    """Refuse absolute paths, ``..`` escapes and links pointing outside ``root``."""
    for path in (name, link):
        if path is not None and (os.path.isabs(path) or path.startswith(("/", "\\"))):
            raise GvetoolError(f"refused archive member with an absolute path: {name} ({path})")
    _inside(root, root / name, name)
    if link is not None:
        base = root if hard else (root / name).parent
        _inside(root, base / link, name)


# The "data" filter (Python >= 3.10.12 / 3.11.4) re-checks what we check, as a second line.
_TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _open_tar(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive)
    except tarfile.TarError as exc:
        raise GvetoolError(f"{archive} is not a tar or zip archive ({exc})") from None


def safe_extract(
    archive: str | os.PathLike[str],
    target: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Extract a tar or zip archive, refusing absolute paths, ``..`` and escaping links.

    Every member is checked before anything is written, so a malicious archive leaves
    nothing behind.
    """
    archive, root = Path(archive), Path(target)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise GvetoolError(f"refused symbolic link in zip archive: {info.filename}")
                _check_member(root, info.filename)
            for info in members:
                zf.extract(info, root)
                if progress:
                    progress(1)
        return
    with _open_tar(archive) as tf:
        members = tf.getmembers()
        for member in members:
            if member.issym() or member.islnk():
                _check_member(root, member.name, member.linkname, hard=member.islnk())
            elif member.isfile() or member.isdir():
                _check_member(root, member.name)
            else:
                raise GvetoolError(f"refused special file in archive: {member.name}")
        for member in members:
            tf.extract(member, root, set_attrs=False, **_TAR_FILTER)
            if progress:
                progress(1)
