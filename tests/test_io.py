"""Atomic writes, the restricted unpickler, JSON errors and safe archive extraction."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gvetool.utils.archives import safe_extract
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import atomic_write, read_json, sha256, write_json, write_text
from gvetool.utils.safe_pickle import load_pickle


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"good old checkpoint")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"good old checkpoint"
    assert os.listdir(tmp_path) == ["last.pt"]
    with atomic_write(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"


def test_unwritable_directory_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(GvetoolError, match=r"cannot write .*file/out.json"):
        write_json(blocker / "out.json", {})


def test_disk_full_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "vocab.json"
    write_json(target, {"words": 1})

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(GvetoolError, match=r"No space left on device.*nothing was overwritten"):
        write_json(target, {"words": 2})
    assert read_json(target) == {"words": 1}
    assert os.listdir(tmp_path) == ["vocab.json"]


def test_truncated_json_names_file_and_position(tmp_path):
    path = tmp_path / "descriptions_bird.train.fg.json"
    path.write_text('{"images": [1, 2')
    with pytest.raises(GvetoolError, match=r"descriptions_bird.train.fg.json is not valid JSON "):
        read_json(path)
    with pytest.raises(GvetoolError, match="line 1, column 17"):
        read_json(path)
    with pytest.raises(GvetoolError, match="missing file"):
        read_json(tmp_path / "nope.json")


def test_restricted_unpickler_loads_cub_style_pickles(tmp_path):
    features = {"001.A/a_1.jpg": np.arange(4, dtype=np.float32), "001.A/a_2.jpg": np.ones(4)}
    labels = {"001.A/a_1.jpg": 1, "001.A/a_2.jpg": np.int64(2)}
    for name, obj in (("f.p", features), ("l.p", labels)):
        with open(tmp_path / name, "wb") as handle:
            pickle.dump(obj, handle, protocol=2)
    loaded = load_pickle(tmp_path / "f.p")
    np.testing.assert_array_equal(loaded["001.A/a_1.jpg"], np.arange(4, dtype=np.float32))
    assert {k: int(v) for k, v in load_pickle(tmp_path / "l.p").items()} == {
        "001.A/a_1.jpg": 1,
        "001.A/a_2.jpg": 2,
    }


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_restricted_unpickler_refuses_code_and_never_runs_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "CUB_feature_dict.p"
    path.write_bytes(pickle.dumps({"x": _Evil()}, protocol=2))
    with pytest.raises(GvetoolError, match=r"refused to load global (posix|os)\.system"):
        load_pickle(path)
    assert not (tmp_path / "pwned").exists()


def test_truncated_pickle_is_a_clear_error(tmp_path):
    path = tmp_path / "CUB_label_dict.p"
    path.write_bytes(pickle.dumps({"a": np.zeros(100)}, protocol=2)[:50])
    with pytest.raises(GvetoolError, match="truncated or corrupt"):
        load_pickle(path)


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_safe_extract_extracts_a_good_tar_and_merges_into_existing_folders(tmp_path):
    archive = tmp_path / "good.tgz"
    _tar(archive, [_file("CUB_200_2011/images/a.jpg", b"jpeg")])
    (tmp_path / "out/CUB_200_2011").mkdir(parents=True)
    (tmp_path / "out/CUB_200_2011/README").write_text("kept")
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out/CUB_200_2011/images/a.jpg").read_bytes() == b"jpeg"
    assert (tmp_path / "out/CUB_200_2011/README").read_text() == "kept"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["CUB_200_2011"]


def test_a_chain_of_links_that_each_look_inside_is_refused(tmp_path):
    """The crafted archive: each link stays inside, together they lead out of the root."""
    root = tmp_path / "data" / "root"
    root.mkdir(parents=True)
    archive = tmp_path / "chain.tar"
    _tar(
        archive,
        [
            _link("a", "."),
            _link("a/b", "."),
            _link("a/b/c", ".."),
            _link("a/b/c/d", ".."),
            _file("a/b/c/d/escaped.txt"),
            _file("x" * 300 + "/long.txt"),
        ],
    )
    with pytest.raises(GvetoolError, match=r"refused link in archive: a -> \."):
        safe_extract(archive, root)
    assert list(root.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["root"]


def test_an_over_long_path_is_refused(tmp_path):
    archive = tmp_path / "long.tar"
    _tar(archive, [_file("ok.txt"), _file("d/" * 2100 + "deep.txt")])
    with pytest.raises(GvetoolError, match="over-long path"):
        safe_extract(archive, tmp_path / "out")
    _tar(archive, [_file("x" * 256 + ".txt")])
    with pytest.raises(GvetoolError, match="over-long path"):
        safe_extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_extraction_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    archive = tmp_path / "big.tar"
    _tar(archive, [_file(f"f{i}.txt") for i in range(5)])
    calls, real = [], tarfile.TarFile.extract

    def failing(self, member, *args, **kwargs):
        calls.append(member.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(self, member, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "extract", failing)
    with pytest.raises(GvetoolError, match=r"cannot extract big.tar .*No space left.*MiB free"):
        safe_extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    "members",
    [
        [_file("ok.txt"), _file("../escape.txt")],
        [_file("ok.txt"), _file("/tmp/absolute.txt")],
        [_file("ok.txt"), _link("link", "../../etc/passwd")],
        [_file("ok.txt"), _link("link", "/etc/passwd")],
        [_file("ok.txt"), _link("hard", "../outside", kind=tarfile.LNKTYPE)],
        [_file("ok.txt"), _link("inside", "ok.txt")],
    ],
    ids=[
        "dotdot",
        "absolute",
        "symlink-escape",
        "symlink-absolute",
        "hardlink-escape",
        "any-link",
    ],
)
def test_safe_extract_refuses_malicious_tar_and_writes_nothing(tmp_path, members):
    archive = tmp_path / "evil.tgz"
    _tar(archive, members)
    out = tmp_path / "out"
    with pytest.raises(GvetoolError, match="refused"):
        safe_extract(archive, out)
    assert list(out.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_safe_extract_refuses_zip_slip(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr("../../zip-slip.txt", "bad")
    with pytest.raises(GvetoolError, match="escaping the target"):
        safe_extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_sha256(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_written_files_honour_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        write_text(tmp_path / "report.html", "<p>")
        assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_text(tmp_path / "private.txt", "x")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)


def test_temp_files_of_killed_writes_are_removed_at_the_next_write(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = tmp_path / f".last.pt.{dead}.abcd1234.tmp"
    old_style = tmp_path / ".last.pt.wxyz5678.tmp"
    live = tmp_path / f".last.pt.{os.getppid()}.live0000.tmp"  # a running writer
    other = tmp_path / f".best.pt.{dead}.abcd1234.tmp"  # another file's: not ours to judge
    for path in (stale, old_style, live, other):
        path.write_bytes(b"half a checkpoint")
    write_text(tmp_path / "last.pt", "new")
    assert not stale.exists() and not old_style.exists()
    assert live.exists() and other.exists()
    assert (tmp_path / "last.pt").read_text() == "new"


def test_the_staging_folder_of_a_killed_extraction_is_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (tmp_path / "out" / f".extracting-{dead}-abcd" / "part").mkdir(parents=True)
    archive = tmp_path / "good.tar"
    _tar(archive, [_file("a.txt")])
    safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]


def _laughs(levels: int) -> list:
    item: list = [0] * 10
    for _ in range(levels):
        item = [item] * 10  # every level shares one list ten times
    return item


def test_a_billion_laughs_pickle_is_refused_quickly_in_little_memory(tmp_path):
    path = tmp_path / "CUB_feature_dict.p"
    path.write_bytes(pickle.dumps({"001.A/a.jpg": _laughs(9)}, protocol=2))
    assert path.stat().st_size < 400  # 10^10 numbers, once expanded
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from gvetool.utils.safe_pickle import load_pickle\n"
        "from gvetool.utils.errors import GvetoolError\n"
        f"try:\n    load_pickle({str(path)!r})\nexcept GvetoolError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "was refused: it describes far more data than its" in done.stdout


def test_a_deeply_nested_pickle_is_refused(tmp_path):
    path = tmp_path / "CUB_label_dict.p"
    path.write_bytes(_deep_pickle(300_000))
    with pytest.raises(GvetoolError, match="nested more than 32 levels"):
        load_pickle(path)


def _deep_pickle(depth: int) -> bytes:
    """``[[[...]]]`` ``depth`` deep, written opcode by opcode (pickle.dumps would recurse)."""
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def test_a_length_field_larger_than_the_file_is_refused_before_allocating(tmp_path):
    path = tmp_path / "CUB_feature_dict.p"
    path.write_bytes(b"\x80\x02}X\xff\xff\xff\x7f")  # a 2 GiB unicode string, 8 bytes
    with pytest.raises(GvetoolError, match=r"refused.*2147483647 bytes"):
        load_pickle(path)


class _HugeArray:
    """Pickles as numpy's array constructor asked for 2**40 elements."""

    def __reduce__(self):
        return (np.zeros(0).__reduce__()[0], (np.ndarray, (2**40,), b"b"))


def test_an_array_larger_than_the_file_is_refused(tmp_path):
    path = tmp_path / "f.p"
    path.write_bytes(pickle.dumps({"a": _HugeArray()}, protocol=2))
    with pytest.raises(GvetoolError, match="an array of 1099511627776 bytes"):
        load_pickle(path)


def test_labels_with_a_huge_shared_value_do_not_hang_the_error_message(tmp_path):
    path = tmp_path / "CUB_label_dict.p"
    path.write_bytes(pickle.dumps({"001.A/a.jpg": _laughs(7)}, protocol=2))
    with pytest.raises(GvetoolError, match="was refused"):
        load_pickle(path)


class _DirectArray:
    """numpy.ndarray called directly: an allocation no array in the file backs."""

    def __reduce__(self):
        return (np.ndarray, ((75_000_000,), "f8"))


def test_an_allowed_global_called_directly_is_held_to_the_budget(tmp_path):
    path = tmp_path / "CUB_feature_dict.p"
    path.write_bytes(pickle.dumps({"a": _DirectArray()}, protocol=2))
    assert path.stat().st_size < 300
    with pytest.raises(GvetoolError, match=r"was refused: .*an array of 600000000 bytes"):
        load_pickle(path)


class _Stringified:
    """str() of a shared structure: the expansion happens while loading."""

    def __reduce__(self):
        return (str, (_laughs(7),))


def test_str_of_a_container_is_refused(tmp_path):
    path = tmp_path / "CUB_label_dict.p"
    path.write_bytes(pickle.dumps({"a": _Stringified()}, protocol=4))  # builtins.str
    with pytest.raises(GvetoolError, match="refused"):
        load_pickle(path)


def test_the_expansion_budget_counts_bytes_not_items(tmp_path):
    shared = np.zeros(32_768, dtype=np.float32)  # 128 KiB, stored once
    path = tmp_path / "CUB_feature_dict.p"
    path.write_bytes(
        pickle.dumps({f"{i:03d}.A/a_{i}.jpg": shared for i in range(4000)}, protocol=2)
    )
    assert path.stat().st_size < 300_000
    with pytest.raises(GvetoolError, match=r"bytes once shared references expand"):
        load_pickle(path)
    honest = tmp_path / "honest.p"
    honest.write_bytes(pickle.dumps({f"{i}": np.ones(256, np.float32) * i for i in range(50)}))
    assert float(load_pickle(honest)["49"][0]) == 49.0


def test_a_zip_that_expands_far_beyond_its_size_is_refused(tmp_path):
    bomb = tmp_path / "data.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/zeros.txt", b"\0" * (64 << 20))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(GvetoolError, match=r"would expand to 64 MiB from .* KiB"):
        safe_extract(bomb, tmp_path / "out")
    assert not (tmp_path / "out" / "data").exists()


def test_a_tar_gz_that_expands_far_beyond_its_size_is_refused(tmp_path):
    bomb = tmp_path / "images.tgz"
    data = b"\0" * (64 << 20)
    with tarfile.open(bomb, "w:gz") as tf:
        info = tarfile.TarInfo("images/zeros.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(GvetoolError, match="would expand to 64 MiB"):
        safe_extract(bomb, tmp_path / "out")


def _readers():
    from gvetool.config.toml_files import load_saved
    from gvetool.data.image_features import read_image
    from gvetool.utils.files import read_json, read_text
    from gvetool.utils.safe_pickle import load_pickle

    return {
        "text": read_text,
        "json": read_json,
        "config file": load_saved,
        "image file": lambda path: read_image(path, lambda image: image),
        "pickle": load_pickle,
    }


@pytest.mark.parametrize("kind", ["text", "json", "config file", "image file", "pickle"])
def test_every_reader_says_a_missing_file_or_a_folder_the_same_way(kind, tmp_path):
    read = _readers()[kind]
    what = kind if kind in ("config file", "image file") else "file"
    with pytest.raises(GvetoolError, match=f"^missing {what} {tmp_path / 'nope'}$"):
        read(tmp_path / "nope")
    with pytest.raises(GvetoolError, match=f"^{tmp_path} is a folder, a {what} was expected$"):
        read(tmp_path)


@pytest.mark.parametrize("kind", ["text", "json", "config file"])
def test_every_text_reader_says_a_file_that_is_not_utf8_the_same_way(kind, tmp_path):
    path = tmp_path / "latin1"
    path.write_bytes("caf\xe9 = 1\n".encode("latin-1"))
    with pytest.raises(
        GvetoolError, match=r"latin1 is not UTF-8 text \(byte 3: .*save it as UTF-8$"
    ):
        _readers()[kind](path)


def test_a_read_the_system_refuses_is_one_line_naming_the_file(tmp_path, monkeypatch):
    from gvetool.utils.files import read_text

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(GvetoolError, match=f"^cannot read {tmp_path / 'x'}: permission denied$"):
        read_text(tmp_path / "x")
