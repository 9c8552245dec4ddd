"""``gvetool serve`` through HTTP: every route, hostile requests, and still serving after."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

import gvetool
from gvetool.cli import main
from gvetool.explorer.catalog import Catalog, Query
from gvetool.explorer.uploads import BadUpload, decode_upload
from tests.hostile import png_header

LIMIT_MB = 1


@pytest.fixture(scope="session")
def explorer(runs: dict[str, Any]) -> Iterator[gvetool.explorer.ExplorerServer]:
    """The explorer over the tiny birds: a run on shipped features, one on a resnet18."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GVETOOL_HOME", str(runs["home"]))
        server = gvetool.serve(
            [runs["gve"].directory, runs["cnn"].directory], port=0, max_upload_mb=LIMIT_MB
        )
    with server:
        yield server


@pytest.fixture
def client(explorer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=explorer.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="session")
def photo(tiny_cub_master: Path) -> bytes:
    """A JPEG of one of the tiny birds, as a user would upload a photo."""
    path = next((tiny_cub_master / "images").rglob("*.jpg"))
    return path.read_bytes()


def _names(client: httpx.Client) -> list[str]:
    return [r["name"] for r in client.get("/api/runs").json()["runs"]]


def _still_serving(client: httpx.Client) -> None:
    assert client.get("/api/runs").status_code == 200


def test_runs_says_which_run_can_explain_a_photo_and_why_not(client, runs):
    info = client.get("/api/runs").json()
    assert info["split"] == "test" and info["dataset"] == "cub" and info["images"] > 0
    shipped, cnn = info["runs"]
    assert shipped["name"] == runs["gve"].directory.name
    assert cnn["name"] == runs["cnn"].directory.name  # both gve: named by their folders
    assert cnn["explains_photos"] and cnn["why_not"] is None and cnn["class_conditioned"]
    assert not shipped["explains_photos"] and "cannot be computed for a photo" in shipped["why_not"]
    assert info["classes"] == sorted(info["classes"]) and len(info["classes"]) == 4


def test_the_page_and_its_assets_come_from_the_server_not_a_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "css")):
        asset = client.get(f"/assets/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        assert "https://" not in asset.text


def test_images_page_filter_and_search(client):
    everything = client.get("/api/images", params={"limit": 100}).json()
    total = everything["total"]
    assert total == len(everything["images"]) and total >= 4
    first = everything["images"][0]
    assert set(first["sentences"]) == set(_names(client))
    for sentence in first["sentences"].values():
        assert set(sentence) == {"text", "repeats", "judged_as", "counterfactual"}
        # both runs are GVE: each image also explained as the class most confused with its own
        assert sentence["counterfactual"]["class"] != first["class"]
        assert isinstance(sentence["counterfactual"]["text"], str)
    pages = [client.get("/api/images", params={"offset": o, "limit": 2}).json() for o in (0, 2)]
    assert [i["id"] for p in pages for i in p["images"]] == [
        i["id"] for i in everything["images"][:4]
    ]
    wanted = first["class"]
    one_class = client.get("/api/images", params={"class": wanted, "limit": 100}).json()
    assert one_class["total"] == sum(i["class"] == wanted for i in everything["images"])
    assert {i["class"] for i in one_class["images"]} == {wanted}
    word = next(iter(first["sentences"].values()))["text"].split()[-1]
    found = client.get("/api/images", params={"q": word.upper(), "limit": 100}).json()
    assert found["total"] >= 1 and all(
        any(word in s["text"] for s in i["sentences"].values()) or word in i["id"].lower()
        for i in found["images"]
    )
    nothing = client.get("/api/images", params={"q": "zzz-no-such-word"}).json()
    assert nothing["total"] == 0 and nothing["images"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1000"},
        {"offset": "-1"},
        {"offset": "abc"},
        {"limit": "1e3"},
        {"split": "val"},
        {"class": "999.No_Such_Bird"},
    ],
)
def test_bad_browse_parameters_are_400_with_one_line(client, params):
    answer = client.get("/api/images", params=params)
    assert answer.status_code == 400
    message = answer.json()["error"]
    assert message and "\n" not in message
    _still_serving(client)


def test_a_picture_is_a_small_jpeg_and_an_unknown_one_404(client):
    picture = client.get("/api/images/0/picture")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(picture.content)).size) <= 320
    total = client.get("/api/runs").json()["images"]
    for bad in (str(total), "999999", "-1", "x", "0.5"):
        answer = client.get(f"/api/images/{bad}/picture")
        assert answer.status_code == 404 and "error" in answer.json()


TRAVERSALS = [
    "/assets/../../../../etc/passwd",
    "/assets/..%2f..%2f..%2fetc%2fpasswd",
    "/assets/%2e%2e/%2e%2e/etc/passwd",
    "/assets/..%252f..%252fetc%252fpasswd",
    "/assets/..%5c..%5cetc%5cpasswd",
    "/assets/%2fetc%2fpasswd",
    "/assets//etc/passwd",
    "/assets/app.js%00.png",
    "/assets/..",
    "/api/images/0/..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/etc/passwd",
    "/assets/index.html/../../gvetool/__init__.py",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_reaches_a_file_outside_what_is_served(explorer, path):
    # Raw bytes on the socket: an HTTP client would normalise the dots away first.
    status, body = _raw(explorer.url, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert status in (400, 404)
    assert b"root:" not in body and b"__version__" not in body


def test_a_symlink_beside_the_assets_is_not_served(explorer, client, tmp_path):
    import gvetool.explorer as package

    link = Path(package.__file__).parent / "assets" / "passwd"
    try:
        link.symlink_to("/etc/passwd")
    except OSError:
        pytest.skip("the installed package folder is not writable here")
    try:
        answer = client.get("/assets/passwd")
        assert answer.status_code == 404 and "root:" not in answer.text
    finally:
        link.unlink()


def test_a_request_for_another_host_is_refused_against_dns_rebinding(client):
    answer = client.get("/api/runs", headers={"Host": "attacker.example:8000"})
    assert answer.status_code == 400
    _still_serving(client)


def test_explain_a_photo_returns_class_explanation_counterfactual_and_ranking(client, runs, photo):
    cnn = runs["cnn"].directory.name
    answer = client.post("/api/explain", files={"image": ("bird.jpg", photo)}, data={"run": cnn})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert set(result) == {"run", "class", "explanation", "counterfactual", "ranking"}
    classes = client.get("/api/runs").json()["classes"]
    ranking = result["ranking"]
    assert sorted(r["class"] for r in ranking) == classes
    assert result["class"] == ranking[0]["class"]  # no class asked: the top one
    assert abs(sum(r["probability"] for r in ranking) - 1) < 1e-4
    assert [r["probability"] for r in ranking] == sorted(
        (r["probability"] for r in ranking), reverse=True
    )
    counter = result["counterfactual"]
    assert counter["class"] in classes and counter["class"] != result["class"]
    assert isinstance(result["explanation"], str) and isinstance(counter["explanation"], str)
    chosen = client.post(
        "/api/explain",
        files={"image": ("bird.jpg", photo)},
        data={"run": cnn, "class": classes[-1].split(".", 1)[1].replace("_", " ")},
    ).json()
    assert chosen["class"] == classes[-1]


def test_explain_matches_the_python_api_on_the_same_photo(client, runs, home, photo, tmp_path):
    path = tmp_path / "bird.jpg"
    path.write_bytes(photo)
    expected = gvetool.load(runs["cnn"].best).explain_photo(str(path))
    result = client.post(
        "/api/explain",
        files={"image": ("bird.jpg", photo)},
        data={"run": runs["cnn"].directory.name},
    ).json()
    assert result["explanation"] == expected.explanation
    assert result["class"] == expected.explained_class


def _upload(client: httpx.Client, body: bytes, **data: str) -> httpx.Response:
    return client.post("/api/explain", files={"image": ("x.png", body)}, data=data)


@pytest.mark.parametrize(
    "case, status, words",
    [
        ("huge", 413, "megapixels"),
        ("not an image", 415, "not an image"),
        ("empty", 400, "empty"),
        ("truncated", 422, "cannot be decoded"),
        ("unknown run", 400, "no run"),
        ("features run", 422, "cannot be computed for a photo"),
        ("unknown class", 422, "unknown class"),
    ],
)
def test_hostile_or_wrong_uploads_are_4xx_with_one_line(
    client, runs, photo, tmp_path, case, status, words
):
    cnn, shipped = runs["cnn"].directory.name, runs["gve"].directory.name
    huge = png_header(tmp_path / "huge.png", 20000, 20000).read_bytes()
    whole = io.BytesIO()
    Image.effect_noise((400, 300), 60).convert("RGB").save(whole, "JPEG")
    bodies = {
        "huge": (huge, {"run": cnn}),
        "not an image": (b"%PDF-1.4 not a picture", {"run": cnn}),
        "empty": (b"", {"run": cnn}),
        "truncated": (whole.getvalue()[: whole.tell() // 2], {"run": cnn}),
        "unknown run": (photo, {"run": "../../etc/passwd"}),
        "features run": (photo, {"run": shipped}),
        "unknown class": (photo, {"run": cnn, "class": "Dodo"}),
    }
    body, data = bodies[case]
    answer = _upload(client, body, **data)
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    assert words in message and "\n" not in message
    _still_serving(client)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content": b"image=abc", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        {"content": b'{"image": 1}', "headers": {"Content-Type": "application/json"}},
        {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data"}},
        {
            "content": b'--b\r\nContent-Disposition: form-data; name="run"\r\n\r\nx\r\n--b--\r\n',
            "headers": {"Content-Type": "multipart/form-data; boundary=b"},
        },
    ],
)
def test_wrong_content_types_and_malformed_forms_are_4xx(client, kwargs):
    answer = client.post("/api/explain", **kwargs)
    assert 400 <= answer.status_code < 500 and answer.json()["error"]
    _still_serving(client)


def test_a_get_on_explain_and_an_unknown_route_are_4xx_json(client):
    assert client.get("/api/explain").status_code == 405
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.json()["error"].startswith("no such page")


def test_a_200_mb_body_is_refused_before_it_is_read(explorer, client):
    declared = (
        b"POST /api/explain HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 209715200\r\n\r\n" + b"x" * 1024
    )
    status, body = _raw(explorer.url, declared)
    assert status == 413 and b"larger than 1 MB" in body
    _still_serving(client)


def test_a_chunked_body_past_the_limit_is_cut_off(explorer, client):
    def chunks() -> Iterator[bytes]:
        head = b'--b\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n\r\n'
        yield head
        for _ in range(200 * 16):  # up to 200 MB, in 64 KB pieces, if nobody stops it
            yield b"x" * 65536

    with httpx.Client(base_url=explorer.url, timeout=60) as raw:
        try:
            answer = raw.post(
                "/api/explain",
                content=chunks(),
                headers={"Content-Type": "multipart/form-data; boundary=b"},
            )
            assert answer.status_code == 413, answer.text
        except httpx.TransportError:
            pass  # the server answered 413 and closed while the client still sent
    _still_serving(client)


def test_concurrent_explanations_and_browsing_all_answer(client, runs, photo):
    cnn = runs["cnn"].directory.name

    def explain(_: int) -> int:
        return _upload(client, photo, run=cnn).status_code

    def browse(n: int) -> int:
        return client.get("/api/images", params={"offset": n % 5, "limit": 5}).status_code

    with ThreadPoolExecutor(8) as pool:
        explained = [pool.submit(explain, n) for n in range(6)]
        browsed = [pool.submit(browse, n) for n in range(20)]
        assert [f.result() for f in browsed] == [200] * 20
        assert [f.result() for f in explained] == [200] * 6
    _still_serving(client)


def test_the_catalog_pages_fast_at_cub_test_size():
    """5,794 images, the size of CUB's test split: a search scans strings, no model."""
    from gvetool.evaluation.side_by_side import Image as Shown
    from gvetool.evaluation.side_by_side import Sentence, SideBySide

    images = tuple(
        Shown(
            f"{n % 200:03d}.Bird/{n}.jpg",
            f"{n % 200:03d}.Bird",
            Path("x"),
            (),
            (Sentence(f"this bird has a red crown number {n}", False, None),),
        )
        for n in range(5794)
    )
    catalog = Catalog(SideBySide("cub", "test", ("gve",), ("gve",), (Path("r"),), images))
    page = catalog.page(Query("007.Bird", "red 1007", 0, 24))
    assert page["total"] == 1 and page["images"][0]["id"] == "007.Bird/1007.jpg"
    assert catalog.page(Query(None, "", 5780, 24))["images"][-1]["index"] == 5793


def test_decode_upload_refuses_before_decoding(tmp_path):
    huge = png_header(tmp_path / "huge.png", 20000, 20000).read_bytes()
    with pytest.raises(BadUpload) as refused:
        decode_upload(huge)
    assert refused.value.status == 413 and "400 megapixels" in refused.value.message
    small = io.BytesIO()
    Image.new("RGB", (4000, 3000), (1, 2, 3)).save(small, "JPEG")
    assert min(decode_upload(small.getvalue()).size) < 3000  # shrunk as explain shrinks


def test_a_port_in_use_is_one_line(runs, home, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(runs["cnn"].directory), "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: port {port} is in use; pick another with --port (0: any free port)"


def test_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope")]) == 1
    assert "no run" in capsys.readouterr().err


def test_another_host_than_loopback_warns(runs, home, capsys, monkeypatch):
    import gvetool.explorer.server as server

    served = []
    monkeypatch.setattr(server, "serve_forever", lambda settings, started: served.append(settings))
    assert main(["serve", str(runs["cnn"].directory), "--host", "0.0.0.0"]) == 0
    assert served[0].host == "0.0.0.0"
    assert "anyone who can reach this machine" in capsys.readouterr().err
    served.clear()
    assert main(["serve", str(runs["cnn"].directory)]) == 0
    assert served[0].host == "127.0.0.1"
    assert "anyone" not in capsys.readouterr().err


def test_ctrl_c_stops_the_cli_server_cleanly(runs, tmp_path):
    env = {**os.environ, "GVETOOL_HOME": str(runs["home"]), "GVETOOL_QUIET": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gvetool", "serve", str(runs["cnn"].directory), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert "gvetool explorer at http://127.0.0.1:" in line, process.stderr.read()
        url = line.split(" at ")[1].split()[0]
        assert httpx.get(url + "api/runs", timeout=30).status_code == 200
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "explorer stopped" in err and "Traceback" not in err


def test_the_python_handle_stops(runs, home):
    server = gvetool.serve(runs["cnn"].directory, port=0)
    assert "running" in repr(server)
    assert httpx.get(server.url + "api/runs", timeout=30).status_code == 200
    server.stop()
    assert "stopped" in repr(server)
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "api/runs", timeout=5)


def _raw(url: str, request: bytes) -> tuple[int, bytes]:
    """Send ``request`` as is and read the answer (status, body) until the server closes
    or a second passes without data."""
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        sock.settimeout(1.0)
        received = b""
        started = time.monotonic()
        while time.monotonic() - started < 15:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if b"\r\n\r\n" in received:
                    break
                continue
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/") else 0
    return status, received.split(b"\r\n\r\n", 1)[-1]


def test_json_errors_are_json(client):
    answer = client.get("/api/images", params={"limit": "0"})
    assert json.loads(answer.text) == {"error": "limit must be 1 to 100, got 0"}
