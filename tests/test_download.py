"""Downloads against a local HTTP server on 127.0.0.1: resume, checksums, safe extraction."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from gvetool.builtins.datasets import cub
from gvetool.cli import main
from gvetool.data.download import (
    Resource,
    download_all,
    drive_resource,
    fetch,
    with_mirror,
)
from gvetool.utils.errors import GvetoolError


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves files from ``server.root``, honouring ``Range`` when ``server.ranges``."""

    def do_GET(self):
        path = self.server.root / self.path.lstrip("/")
        if not path.is_file():
            self.server.requests.append((self.path, self.headers.get("Range")))
            self.send_error(404)
            return
        self._send_file(path.read_bytes())

    def _send_file(self, data: bytes) -> None:
        self.server.requests.append((self.path, self.headers.get("Range")))
        start = 0
        header = self.headers.get("Range")
        if header and self.server.ranges:
            start = int(header.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


def _serve(tmp_path: Path, handler: type[http.server.BaseHTTPRequestHandler]):
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.root, httpd.ranges, httpd.requests = root, True, []
    httpd.drive_files, httpd.drive_mode = {}, "form"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(tmp_path):
    yield from _serve(tmp_path, _Handler)


def test_fetch_downloads_and_checks_sha256(server, tmp_path):
    payload = b"features" * 1000
    (server.root / "f.bin").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    good = Resource(f"{server.url}/f.bin", sha256=digest, md5=hashlib.md5(payload).hexdigest())
    path = fetch(good.url, tmp_path / "out" / "f.bin", good)
    assert path.read_bytes() == payload
    with pytest.raises(GvetoolError, match="wrong sha256"):
        fetch(good.url, tmp_path / "out" / "g.bin", Resource(good.url, sha256="0" * 64))
    assert not (tmp_path / "out" / "g.bin").exists()
    assert not (tmp_path / "out" / "g.bin.partial").exists()


@pytest.mark.parametrize("ranges", [True, False], ids=["resumed", "server-without-ranges"])
def test_fetch_resumes_a_partial_download(server, tmp_path, ranges):
    payload = bytes(range(256)) * 40
    (server.root / "big.tgz").write_bytes(payload)
    server.ranges = ranges
    (tmp_path / "big.tgz.partial").write_bytes(payload[:3000])
    fetch(f"{server.url}/big.tgz", tmp_path / "big.tgz")
    assert (tmp_path / "big.tgz").read_bytes() == payload
    assert server.requests == [("/big.tgz", "bytes=3000-")]


def test_offline_is_one_line_with_the_url_and_manual_steps(tmp_path):
    with pytest.raises(GvetoolError) as excinfo:
        fetch("http://127.0.0.1:9/CUB_200_2011.tgz", tmp_path / "CUB_200_2011.tgz")
    message = str(excinfo.value)
    assert "cannot download http://127.0.0.1:9/CUB_200_2011.tgz" in message
    assert f"place it at {tmp_path / 'CUB_200_2011.tgz'}" in message


def test_http_errors_are_reported(server, tmp_path):
    with pytest.raises(GvetoolError, match="HTTP 404"):
        fetch(f"{server.url}/missing.zip", tmp_path / "missing.zip")


def _tgz(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_download_all_extracts_deletes_the_archive_and_skips_done_work(server, tmp_path):
    _tgz(server.root / "data.tgz", {"data/a.txt": b"a"})
    resources = [Resource(f"{server.url}/data.tgz", extract=True)]
    download_all(resources, tmp_path / "root")
    assert (tmp_path / "root/data/a.txt").read_bytes() == b"a"
    assert not (tmp_path / "root/data.tgz").exists()
    download_all(resources, tmp_path / "root")
    assert len(server.requests) == 1


def test_malicious_archive_is_refused_and_deleted(server, tmp_path):
    _tgz(server.root / "evil.tgz", {"ok.txt": b"x", "../../escaped.txt": b"x"})
    with pytest.raises(GvetoolError, match=r"escaping the target directory.*archive was deleted"):
        download_all([Resource(f"{server.url}/evil.tgz", extract=True)], tmp_path / "root")
    assert not (tmp_path / "escaped.txt").exists()
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == []  # not even the archive


def test_mirror_keeps_the_path():
    url = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz"
    assert with_mirror(url, "http://127.0.0.1:8000/mirror/") == (
        "http://127.0.0.1:8000/mirror/records/65de6-vp158/files/CUB_200_2011.tgz"
    )
    assert with_mirror(url, None) == url


def _cub_on_mirror(server) -> Path:
    archive = server.root / "records/65de6-vp158/files/CUB_200_2011.tgz"
    archive.parent.mkdir(parents=True)
    _tgz(archive, {"CUB_200_2011/images/001.A/A_0001_1.jpg": b"jpeg"})
    return archive


def test_cub_archive_with_another_md5_is_deleted_with_the_reason(server, tmp_path, capsys):
    _cub_on_mirror(server)
    root = tmp_path / "cub"
    assert main(["data", "download", "cub", "--data-root", str(root), "--mirror", server.url]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "CUB_200_2011.tgz" in err[-1] and "wrong md5" in err[-1] and "deleted" in err[-1]
    assert "expected 97eceeb196236b17998738112f37df78" in err[-1]
    assert not list(root.rglob("*.tgz*")) and not (root / "images").exists()


def test_cli_download_offline_is_one_line(tmp_path, capsys):
    args = ["data", "download", "coco", "--data-root", str(tmp_path), "--mirror"]
    assert main([*args, "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot download http://127.0.0.1:9/annotations/" in err[0]


class _DriveHandler(_Handler):
    """Google Drive's download endpoint as it behaves for large files: ``/uc`` answers with
    a confirmation page (``server.drive_mode``: a download form, a cookie token, or a quota
    page); the confirmed request gets the file, with ``Range`` support."""

    def do_GET(self):
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        files = self.server.drive_files
        if url.path == "/uc" and query.get("id") in files:
            file_id, mode = query["id"], self.server.drive_mode
            cookie = self.headers.get("Cookie") or ""
            if mode == "cookie" and query.get("confirm") == "T0K" and "download_warning" in cookie:
                return self._send_file(files[file_id])
            self.server.requests.append((self.path, self.headers.get("Range")))
            return self._send_page(file_id, mode)
        if url.path == "/download" and query.get("confirm") == "t" and query.get("uuid") == "u1":
            return self._send_file(files[query["id"]])
        return super().do_GET()

    def _send_page(self, file_id, mode):
        if mode == "form":
            hidden = {"id": file_id, "export": "download", "confirm": "t", "uuid": "u1"}
            inputs = "".join(
                f'<input type="hidden" name="{k}" value="{v}">' for k, v in hidden.items()
            )
            action = f"{self.server.url}/download"
            body = (
                "<html><head><title>Google Drive - Virus scan warning</title></head><body>"
                f'<form id="download-form" action="{action}" method="get">{inputs}</form>'
                "</body></html>"
            )
        elif mode == "cookie":
            link = f"/uc?export=download&amp;confirm=T0K&amp;id={file_id}"
            body = f'<a href="{link}">Download</a>'
        else:
            body = "<html><head><title>Google Drive - Quota exceeded</title></head></html>"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if mode == "cookie":
            self.send_header("Set-Cookie", "download_warning_13058876669334088843=T0K; Path=/")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def drive(tmp_path):
    yield from _serve(tmp_path, _DriveHandler)


@pytest.mark.parametrize("mode", ["form", "cookie"])
def test_drive_files_pass_the_large_file_confirmation_and_resume(drive, tmp_path, mode):
    payload = bytes(range(256)) * 400
    drive.drive_files["FILE1"], drive.drive_mode = payload, mode
    resource = drive_resource("FILE1", "data.zip", md5=hashlib.md5(payload).hexdigest())
    destination = tmp_path / "root" / "data.zip"
    destination.parent.mkdir()
    (destination.parent / "data.zip.partial").write_bytes(payload[:1000])
    fetch(with_mirror(resource.url, drive.url), destination, resource)
    assert destination.read_bytes() == payload
    assert drive.requests[-1][1] == "bytes=1000-"  # the confirmed request resumed


def test_a_drive_quota_page_is_one_line_saying_where_to_get_the_file(drive, tmp_path):
    drive.drive_files["FILE1"], drive.drive_mode = b"zip", "quota"
    resource = drive_resource("FILE1", "data.zip")
    with pytest.raises(GvetoolError) as caught:
        fetch(with_mirror(resource.url, drive.url), tmp_path / "data.zip", resource)
    message = str(caught.value)
    assert "'Google Drive - Quota exceeded'" in message
    assert "https://drive.google.com/file/d/FILE1" in message and "data.zip" in message


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_download_cub_fetches_and_lays_out_everything_training_needs(
    drive, tiny_cub_master, tmp_path, capsys, monkeypatch
):
    images = sorted((tiny_cub_master / "images").rglob("*.jpg"))
    cub_tgz = drive.root / "records/65de6-vp158/files/CUB_200_2011.tgz"
    cub_tgz.parent.mkdir(parents=True)
    members = {"CUB_200_2011/classes.txt": (tiny_cub_master / "classes.txt").read_bytes()}
    members.update(
        {
            f"CUB_200_2011/images/{p.relative_to(tiny_cub_master / 'images')}": p.read_bytes()
            for p in images
        }
    )
    _tgz(cub_tgz, members)
    release = {
        f"data/{name}": (tiny_cub_master / name).read_bytes()
        for name in (
            "CUB_feature_dict.p",
            "CUB_label_dict.p",
            "cub_0917_5cap.tsv",
            "val.txt",
            "test.txt",
        )
    }
    release["data/train_noCub.txt"] = (tiny_cub_master / "train.txt").read_bytes()
    drive.drive_files["1RHBLIo7sp8nhKjX0NQaGLaA-0ChYIunR"] = _zip(release)
    drive.drive_files["1O5hEl7BYP0o1sYJONkPFbp9T-aVrNQZ0"] = _zip(
        {"cider_score_dict_explanation.p": b"x"}
    )
    digest = hashlib.md5(cub_tgz.read_bytes()).hexdigest()
    patched = (dataclasses.replace(cub.RELEASE[0], md5=digest), *cub.RELEASE[1:])
    monkeypatch.setattr(cub, "RELEASE", patched)
    root = tmp_path / "cub"
    assert main(["data", "download", "cub", "--data-root", str(root), "--mirror", drive.url]) == 0
    assert "still missing" not in capsys.readouterr().err
    assert (root / "train.txt").read_bytes() == (tiny_cub_master / "train.txt").read_bytes()
    assert (root / "cider_scores" / "cider_score_dict_explanation.p").is_file()
    assert len(list((root / "images").rglob("*.jpg"))) == len(images)
    ours, original = cub.open_cub(root), cub.open_cub(tiny_cub_master)
    for split in cub.SPLITS:
        assert ours.split(split).captions == original.split(split).captions


def test_the_crafted_archive_through_the_cli_is_one_line_and_writes_nothing_outside(
    server, tmp_path, capsys, monkeypatch
):
    archive = server.root / "records/65de6-vp158/files/CUB_200_2011.tgz"
    archive.parent.mkdir(parents=True)
    chain = [("a", "."), ("a/b", "."), ("a/b/c", ".."), ("a/b/c/d", "..")]
    with tarfile.open(archive, "w:gz") as tf:
        for name, target in chain:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
        info = tarfile.TarInfo("a/b/c/d/escaped.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(cub, "RELEASE", (dataclasses.replace(cub.RELEASE[0], md5=digest),))
    root = tmp_path / "data" / "cub"
    args = ["data", "download", "cub", "--data-root", str(root), "--mirror", server.url]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused link in archive" in err[0] and "deleted" in err[0]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["cub"]
    assert list(root.iterdir()) == []


class _Dropping(_Handler):
    """Promises the whole file, sends ``server.cut`` bytes of it, then hangs up."""

    def _send_file(self, data: bytes) -> None:
        self.server.requests.append((self.path, self.headers.get("Range")))
        start = 0
        header = self.headers.get("Range")
        if header:
            start = int(header.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start : start + self.server.cut])
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def dropping(tmp_path):
    yield from _serve(tmp_path, _Dropping)


def test_a_connection_dropped_mid_body_keeps_the_partial_and_resumes_it(dropping, tmp_path):
    payload = bytes(range(256)) * 40
    (dropping.root / "f.bin").write_bytes(payload)
    dropping.cut = 4000
    digest = hashlib.sha256(payload).hexdigest()
    destination = tmp_path / "out" / "f.bin"
    with pytest.raises(GvetoolError, match=r"broke off after 4000 of 10240 bytes"):
        fetch(f"{dropping.url}/f.bin", destination, Resource("x", sha256=digest))
    assert not destination.exists()
    assert (tmp_path / "out" / "f.bin.partial").stat().st_size == 4000
    dropping.cut = 10**9  # the next try gets the rest
    fetch(f"{dropping.url}/f.bin", destination, Resource("x", sha256=digest))
    assert destination.read_bytes() == payload
    assert dropping.requests[-1] == ("/f.bin", "bytes=4000-")


class _Trickling(_Handler):
    def _send_file(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for byte in data:
            if self.server.stopped.is_set():
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            self.server.stopped.wait(0.02)


def test_a_server_that_trickles_is_given_up_on(tmp_path, monkeypatch):
    import gvetool.data.download as download

    for httpd in _serve(tmp_path, _Trickling):
        httpd.stopped = threading.Event()
        (httpd.root / "f.bin").write_bytes(b"x" * 10_000)
        monkeypatch.setattr(download, "STALL_WINDOW_S", 0.5)
        monkeypatch.setattr(download, "STALL_MIN_BYTES", 1000)
        try:
            with pytest.raises(GvetoolError, match=r"stalled: \d+ bytes in the last 0.5 s"):
                fetch(f"{httpd.url}/f.bin", tmp_path / "f.bin")
        finally:
            httpd.stopped.set()
    assert (tmp_path / "f.bin.partial").is_file()  # kept for the next try


@pytest.mark.parametrize("mirror", ["not a url", "ftp//x", "http://", "http://[::1"])
def test_a_malformed_mirror_is_one_line(mirror):
    with pytest.raises(GvetoolError, match=r"--mirror .* is not a URL"):
        with_mirror("https://example.org/a/b.tgz", mirror)


def test_two_downloads_into_one_root_do_not_race(tmp_path):
    from gvetool.utils.locking import exclusive

    root = tmp_path / "cub"
    root.mkdir()
    busy = r"another gvetool data download is writing to "
    with exclusive(root, "held by this test"), pytest.raises(GvetoolError, match=busy):
        download_all([Resource("http://127.0.0.1:9/none.bin")], root)  # as a 2nd process


def test_a_file_size_limit_hit_while_downloading_is_one_line_naming_the_file(server, tmp_path):
    """Under ``ulimit -f`` (or a quota) a write fails with EFBIG; the partial download is
    named and kept for a resume."""
    (server.root / "big.bin").write_bytes(b"x" * 300_000)
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "from gvetool.data.download import fetch\n"
        "from gvetool.utils.errors import GvetoolError\n"
        "try:\n"
        f"    fetch({server.url + '/big.bin'!r}, {str(tmp_path / 'big.bin')!r})\n"
        "except GvetoolError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    partial = tmp_path / "big.bin.partial"
    assert done.stdout.strip().startswith(f"cannot write {partial}: File too large (")
    assert partial.is_file()


def test_every_file_system_fault_with_a_path_is_one_line():
    import errno

    from gvetool.utils.errors import filesystem_fault

    too_large = filesystem_fault(OSError(errno.EFBIG, "File too large", "/data/out.npy"))
    assert too_large is not None and too_large.startswith(
        "cannot use /data/out.npy: File too large ("
    )
    odd = filesystem_fault(OSError(errno.EIO, "Input/output error", "/data/x"))
    assert odd == "cannot use /data/x: Input/output error"
    assert filesystem_fault(OSError(errno.EIO, "Input/output error")) is None  # no path: a bug
