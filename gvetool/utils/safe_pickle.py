"""Unpickling the legacy CUB release files without running their code.

Only the globals those pickles need (dicts of numpy arrays and numbers) can be rebuilt,
and the data they describe is budgeted by bytes against the file's size, so neither a
hostile payload nor a decompression bomb gets through.
"""

from __future__ import annotations

import io
import os
import pickle
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import reading

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
    with reading(path):  # its faults told apart from the content's, which follow
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    size = os.fstat(handle.fileno()).st_size
    try:
        with handle:
            # Unbuffered on purpose: a buffered reader would allocate a claimed length first.
            reader = _BoundedReader(handle, size)
            data = RestrictedUnpickler(reader, size, encoding="latin1").load()  # type: ignore[arg-type]
        _check_expanded_size(data, budget=2 * size + 4096)  # its arrays and strings
        return data
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
