"""Downloads against a local HTTP server on 127.0.0.1: resume, checksums, safe extraction."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest

from gvetool.cli import main
from gvetool.data.download import Resource, download_all, fetch, with_mirror
from gvetool.datasets import cub
from gvetool.errors import GvetoolError


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves files from ``server.root``, honouring ``Range`` when ``server.ranges``."""

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        path = self.server.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        header = self.headers.get("Range")
        if header and self.server.ranges:
            start = int(header.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root, httpd.ranges, httpd.requests = root, True, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


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


def test_cli_download_cub_from_a_mirror(server, tmp_path, capsys, monkeypatch):
    archive = _cub_on_mirror(server)
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(cub, "IMAGES_ARCHIVE", dataclasses.replace(cub.IMAGES_ARCHIVE, md5=digest))
    root = tmp_path / "cub"
    assert main(["data", "download", "cub", "--data-root", str(root), "--mirror", server.url]) == 0
    captured = capsys.readouterr()
    assert (root / "images/001.A/A_0001_1.jpg").read_bytes() == b"jpeg"
    assert "still missing descriptions_bird.train.fg.json" in captured.err
    assert f"cub downloaded to {root}" in captured.out


def test_cli_download_offline_is_one_line(tmp_path, capsys):
    args = ["data", "download", "coco", "--data-root", str(tmp_path), "--mirror"]
    assert main([*args, "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot download http://127.0.0.1:9/annotations/" in err[0]
