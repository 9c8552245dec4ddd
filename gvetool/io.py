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
import re
import reprlib
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from gvetool.errors import GvetoolError

_TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
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
        if match and not (match.group(1) and _alive(int(match.group(1)))):
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
            f"{_free_space(target)})"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _free_space(target: Path) -> str:
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


def read_text(path: str | os.PathLike[str], what: str = "") -> str:
    """A UTF-8 text file; missing, unreadable or not UTF-8 is one line naming the file."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GvetoolError(f"missing file {path}{what}") from None
    except PermissionError:
        raise GvetoolError(f"cannot read {path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise GvetoolError(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None
    except IsADirectoryError:
        raise GvetoolError(f"{path} is a folder, a file was expected") from None


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


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks (archives are gigabytes)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256(path: str | os.PathLike[str]) -> str:
    return file_digest(path, "sha256")


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


MAX_PICKLE_DEPTH = 32  # the CUB pickles nest two deep (dict -> array)


class PickleBudgetError(pickle.UnpicklingError):
    """The pickle describes more data than its size allows (a decompression bomb)."""


def _array_bytes(shape: Any, dtype: Any, limit: int) -> None:
    """Refuse an array that would take more bytes than a ``limit``-byte file can fill."""
    import numpy as np

    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, tuple) or len(shape) > MAX_PICKLE_DEPTH:
        raise PickleBudgetError("an array with a malformed shape")
    size = 1
    for dim in shape:
        if not isinstance(dim, int) or dim < 0:
            raise PickleBudgetError("an array with a malformed shape")
        size *= dim
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        raise PickleBudgetError(f"an array of unknown dtype {reprlib.repr(dtype)}") from None
    if size * max(1, itemsize) > limit:
        raise PickleBudgetError(
            f"an array of {size * max(1, itemsize)} bytes in a {limit}-byte file"
        )


class _CheckedArrayType:
    """Stands for ``numpy.ndarray`` in a pickle: called directly (an allocation no data
    in the file backs) it is held to the byte budget; passed to ``_reconstruct`` as the
    subtype it is replaced by the real class."""

    def __init__(self, limit: int) -> None:
        import numpy as np

        self.real, self.limit = np.ndarray, limit

    def __call__(self, shape: Any, dtype: Any = float, *args: Any, **kwargs: Any) -> Any:
        _array_bytes(shape, dtype, self.limit)
        return self.real(shape, dtype, *args, **kwargs)


def _checked_reconstruct(limit: int) -> Callable[..., Any]:
    """numpy's array constructor, refusing a shape larger than the file could fill."""
    import numpy as np

    real = np.zeros(0).__reduce__()[0]  # numpy's own _reconstruct, wherever it lives

    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
        _array_bytes(shape, dtype, limit)
        if isinstance(subtype, _CheckedArrayType):
            subtype = subtype.real
        return real(subtype, shape, dtype)

    return reconstruct


_SCALARS = (str, bytes, int, float, bool, type(None))


def _scalars_only(convert: Callable[..., Any]) -> Callable[..., Any]:
    """``str``/``int``/``float`` applied to plain values only: ``str`` of a container
    walks every shared reference while loading (a billion laughs in a few hundred bytes)."""

    def checked(*args: Any) -> Any:
        if not all(isinstance(arg, _SCALARS) for arg in args):
            raise pickle.UnpicklingError(f"refused {convert.__name__}() of a container")
        return convert(*args)

    return checked


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays, dicts, strings and numbers."""

    def __init__(self, file: IO[bytes], size: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.size = size

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}")
        if name == "_reconstruct":
            return _checked_reconstruct(self.size)
        if name == "ndarray":
            return _CheckedArrayType(self.size)
        if module == "__builtin__":
            module = "builtins"
        if module == "copy_reg":
            module = "copyreg"
        found = super().find_class(module, name)
        return _scalars_only(found) if found in (str, int, float) else found


class _BoundedReader(io.RawIOBase):
    """A file that refuses reads past its end: a length field cannot make us allocate more
    than the file holds (a 300-byte pickle claiming a 4 GB string)."""

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self.handle, self.left = handle, size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.left
        if n > self.left:
            raise PickleBudgetError(f"a field of {n} bytes with {self.left} bytes left")
        data = self.handle.read(n)
        self.left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(min(len(buffer), self.left))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, limit: int = -1) -> bytes:
        line = self.handle.readline(min(self.left, limit if limit >= 0 else self.left))
        self.left -= len(line)
        return line


def _weight(item: Any) -> int:
    """The bytes a consumer materialises for ``item`` (an array's data, a string's
    characters, at least 1 for anything)."""
    nbytes = getattr(item, "nbytes", None)
    if isinstance(nbytes, int):
        return max(1, nbytes)
    if isinstance(item, str | bytes):
        return max(1, len(item))
    return 1


def _check_expanded_size(obj: Any, budget: int) -> None:
    """Walk the loaded data as a consumer would (shared references counted each time they
    are reached) and refuse it once it exceeds ``budget`` bytes or nests too deep.

    Loading shares repeated references, so a "billion laughs" pickle, or one array shared
    by thousands of keys, is small in memory; it explodes only when converted, stacked
    or iterated. The walk stops at the budget, so checking costs at most what a
    legitimate file of that size costs.
    """
    stack: list[tuple[Any, int]] = [(obj, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += _weight(item)
        if seen > budget:
            raise PickleBudgetError(f"more than {budget} bytes once shared references expand")
        if depth > MAX_PICKLE_DEPTH:
            raise PickleBudgetError(f"data nested more than {MAX_PICKLE_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((part, depth + 1) for pair in item.items() for part in pair)
        elif isinstance(item, list | tuple):
            stack.extend((part, depth + 1) for part in item)


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Load a legacy pickle (python 2 / latin1 aware) allowing only plain data, within a
    budget proportional to the file's size (objects, nesting depth, bytes)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            # Unbuffered on purpose: a buffered reader would allocate a claimed length first.
            reader = _BoundedReader(handle, size)
            data = RestrictedUnpickler(reader, size, encoding="latin1").load()  # type: ignore[arg-type]
        _check_expanded_size(data, budget=2 * size + 4096)  # its arrays and strings
        return data
    except FileNotFoundError:
        raise GvetoolError(f"missing file {path}") from None
    except PickleBudgetError as exc:
        raise GvetoolError(
            f"{path} was refused: it describes far more data than its {size} bytes ({exc}); "
            "it is damaged or malicious — download it again"
        ) from None
    except pickle.UnpicklingError as exc:
        raise GvetoolError(
            f"{path} is not a plain-data pickle ({exc}); it was not loaded — "
            "only numpy arrays, dicts, strings and numbers are accepted"
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise GvetoolError(
            f"{path} is truncated or corrupt ({type(exc).__name__}: {reprlib.repr(str(exc))})"
        ) from None
    except (RecursionError, MemoryError) as exc:
        raise GvetoolError(
            f"{path} was refused: it is nested too deeply or too large to load "
            f"({type(exc).__name__}); it is damaged or malicious — download it again"
        ) from None


# --- safe archive extraction -----------------------------------------------------------


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
        if not (pid.isdigit() and _alive(int(pid))):
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
            f"{_free_space(root / archive.name)}"
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
