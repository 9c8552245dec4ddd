"""The one exception type meant for users, and the filesystem faults that are theirs too.

Anything a user can fix (missing data, wrong checkpoint, bad config) is raised as a
:class:`GvetoolError`; the CLI turns it into one line on stderr and a non-zero exit, and
shows the traceback only with ``--debug``. Everything else is a bug and is reported as one.
"""

import errno

INTERRUPTED_EXIT = 130  # a process stopped by Ctrl-C (SIGINT) exits 128 + 2


class GvetoolError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""

    exit_code = 1


class ConfigError(GvetoolError):
    """A configuration value or key that cannot be used (out of range, unknown, mistyped)."""


class UnknownNameError(GvetoolError):
    """A model, dataset, encoder, metric or tracker name that no installed plugin
    registers (or two do)."""


class MetricUnavailable(GvetoolError):
    """A metric that cannot run here (no Java, no SPICE models, a scorer that crashed): it
    is skipped with one warning saying why, and the other metrics still run."""


class TrackerUnavailable(GvetoolError):
    """A tracker whose library is not installed: left out of the run (with one warning
    when it was asked for by name)."""


class CheckpointError(GvetoolError):
    """A file that is not a usable gvetool checkpoint, or one of another kind than needed."""


class DataError(GvetoolError):
    """A dataset, feature store or image that is missing, damaged or not the run's."""


# Faults of the user's filesystem, not of gvetool: what to do about each.
_ADVICE = {
    errno.EEXIST: "a file stands where a folder is needed; choose another path",
    errno.ENOTDIR: "a file stands where a folder is needed; choose another path",
    errno.EISDIR: "a folder stands where a file is needed; choose another path",
    errno.ENOENT: "that folder does not exist or cannot hold files; choose another path",
    errno.EACCES: "choose a folder you can write to",
    errno.EPERM: "choose a folder you can write to",
    errno.EROFS: "choose a writable folder",
    errno.ENOSPC: "free some space, or point TMPDIR or --out elsewhere",
    errno.EDQUOT: "free some space, or point TMPDIR or --out elsewhere",
    errno.EFBIG: "larger than the file system, a quota or `ulimit -f` allows; raise the limit "
    "or write elsewhere",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.ELOOP: "the path is a loop of symbolic links",
}


def advice_for(exc: OSError) -> str:
    """What to do about a filesystem fault (a generic word where none is known)."""
    return _ADVICE.get(exc.errno or -1, "check the path and the disk")


def filesystem_fault(exc: OSError) -> str | None:
    """One line for an ``OSError`` that the user's filesystem caused (a full disk, a
    read-only or missing folder, a file in the way, a file-size limit), naming the path and
    the cause; also any other ``OSError`` on a named path. ``None`` for one with neither a
    known cause nor a path, which stays a bug."""
    advice = _ADVICE.get(exc.errno or -1)
    if advice is None and exc.filename is None:
        return None
    where = exc.filename if exc.filename is not None else "a file"
    cause = f"cannot use {where}: {exc.strerror or exc}"
    return cause if advice is None else f"{cause} ({advice})"
