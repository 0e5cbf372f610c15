"""The attacks of issue 11 §2 against a real server on loopback: each gets a clean 4xx with a message,
never a 500, a half-sent result, a read body without a token, or memory spent on a declared size."""

import io
import socket
import threading
import tracemalloc
import zlib

import httpx
import numpy as np
import pytest
import tifffile
from server_helpers import Server, spec_json, tiff_bytes, wait_job

from fluorecon.server.inputs import InputRefused, read_input
from fluorecon.server.settings import Settings

WIENER = spec_json(method="wiener")


@pytest.fixture(scope="module")
def image():
    return (np.random.default_rng(3).random((48, 40)) * 100).astype(np.float32)


def submit(client, image_bytes, spec=WIENER, name="in.tif"):
    return client.post("/v1/jobs", data={"spec": spec}, files={"image": (name, image_bytes, "image/tiff")})


def raw_request(server, head: str, body: bytes) -> bytes:
    """Send the request head and only ``body`` of what it announces, then read the whole answer
    (the server closes or keeps the connection; the answer is complete when Content-Length says so)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        header, _, rest = answer.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in header.split(b"\r\n") if line.lower().startswith(b"content-length")))
        while len(rest) < length:
            rest += sock.recv(65536)
    return header + b"\r\n\r\n" + rest


# --- 1. spec: nested or huge JSON -------------------------------------------------------------


@pytest.mark.parametrize("spec,words", [
    ("[" * 100_000, "at most 65536 characters"),
    ('{"psf":' * 5000, "nested more than 32 levels"),
    ("[" * 33 + "]" * 33, "nested more than 32 levels"),
    ('{"method": "rl", "note": "' + "[" * 1000 + '"}', "note"),  # brackets inside a string are text
])
def test_nested_or_huge_spec_is_422_with_a_message(server, image, spec, words):
    with server.client() as client:
        r = submit(client, tiff_bytes(image), spec)
        assert r.status_code == 422, r.text
        assert words in r.json()["detail"]
        assert client.get("/v1/health").status_code == 200


# --- 2. a result download racing DELETE -------------------------------------------------------


def _finished_jobs(client, image, n, batch=6):
    ids = []
    for start in range(0, n, batch):  # the session's server queues at most 8
        batch_ids = []
        for _ in range(min(batch, n - start)):
            r = submit(client, tiff_bytes(image))
            assert r.status_code == 201, r.text
            batch_ids.append(r.json()["id"])
        for job_id in batch_ids:
            assert wait_job(client, job_id)["state"] == "succeeded"
        ids += batch_ids
    return ids


def _assert_whole_result(response, image):
    assert response.headers["content-type"] == "image/tiff"
    assert len(response.content) == int(response.headers["content-length"]) > 0
    with tifffile.TiffFile(io.BytesIO(response.content)) as tif:
        assert tif.series[0].asarray().shape == image.shape


def test_result_download_racing_delete_is_whole_or_404(server, image):
    with server.client() as client:
        ids = _finished_jobs(client, image, 30)
    outcomes = []

    def race(job_id):
        barrier = threading.Barrier(2)
        got = {}

        def call(key, method, path):
            with server.client() as c:
                barrier.wait()
                try:
                    got[key] = c.request(method, path)
                except httpx.HTTPError as err:  # e.g. a body shorter than its Content-Length
                    got[key] = err

        threads = [threading.Thread(target=call, args=("get", "GET", f"/v1/jobs/{job_id}/result")),
                   threading.Thread(target=call, args=("delete", "DELETE", f"/v1/jobs/{job_id}"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return got

    for job_id in ids:
        got = race(job_id)
        assert isinstance(got["get"], httpx.Response), repr(got["get"])
        assert got["delete"].status_code in (200, 404), got["delete"].text
        r = got["get"]
        if r.status_code == 200:
            _assert_whole_result(r, image)
        else:
            assert r.status_code in (404, 409) and job_id in r.json()["detail"], r.text
        outcomes.append(r.status_code)
    print("GET outcomes:", {c: outcomes.count(c) for c in set(outcomes)})


def test_delete_after_the_download_started_leaves_it_whole(server, image):
    """The interleaving that lost bytes, made certain: the response's headers are out (the server
    holds the file), then the job is deleted, then the body is read."""
    with server.client() as client:
        (job_id,) = _finished_jobs(client, image, 1)
        with server.client() as downloader, downloader.stream("GET", f"/v1/jobs/{job_id}/result") as r:
            assert r.status_code == 200
            assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
            assert client.get(f"/v1/jobs/{job_id}").status_code == 404
            r.read()
        _assert_whole_result(r, image)
        assert client.get(f"/v1/jobs/{job_id}/result").status_code == 404
    assert not list((server.config_dir / "server-data").glob("deleted-*"))


# --- 3. decompression bombs -------------------------------------------------------------------


def _bomb(shape, dtype) -> bytes:
    """A deflate TIFF of zeros: tiny on disk, ``shape`` declared. One tile of zeros is compressed
    once and written (pre-compressed) as every tile; a valid TIFF that decodes to zeros."""
    tile = zlib.compress(np.zeros((1024, 1024), dtype).tobytes(), 9)
    n_tiles = -(-shape[0] // 1024) * -(-shape[1] // 1024)
    buf = io.BytesIO()
    tifffile.imwrite(buf, (tile for _ in range(n_tiles)), shape=shape, dtype=dtype, tile=(1024, 1024),
                     compression="zlib")
    return buf.getvalue()


@pytest.fixture(scope="module")
def bombs():
    return {"voxels": _bomb((33000, 33000), np.uint8), "bytes": _bomb((8192, 8192), np.float32)}


@pytest.fixture(scope="module")
def roomy_server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("fluorecon-bombs"), "--max-upload-mb", "8", "--max-image-mb", "64").start()
    yield srv
    srv.stop()


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmHWM:")))


@pytest.mark.parametrize("kind,words", [
    ("voxels", ["1,089,000,000 voxels", "limit of 1,073,741,824"]),
    ("bytes", ["256 MiB decoded", "limit of 64 MiB", "--max-image-mb"]),
])
def test_tiff_bomb_is_refused_from_its_header(roomy_server, bombs, kind, words):
    assert len(bombs[kind]) < 4 * 1024**2  # the upload itself is small
    peak_before = _peak_rss_kib(roomy_server.proc.pid)
    with roomy_server.client() as client:
        r = submit(client, bombs[kind], name="bomb.tif")
    assert r.status_code == 413, r.text
    for word in words + ["bomb.tif"]:
        assert word in r.json()["detail"]
    # Decoding either bomb would raise the server's peak memory by ≥ 256 MiB.
    assert _peak_rss_kib(roomy_server.proc.pid) - peak_before < 64 * 1024


@pytest.mark.parametrize("kind,words", [("voxels", "1,089,000,000 voxels"), ("bytes", "256 MiB decoded")])
def test_reader_refuses_a_bomb_without_decoding(bombs, tmp_path, kind, words):
    path = tmp_path / "bomb.tif"
    path.write_bytes(bombs[kind])
    settings = Settings(config_dir=tmp_path, max_image_bytes=64 * 1024**2)
    tracemalloc.start()
    try:
        with pytest.raises(InputRefused, match=words) as err:
            read_input(path, "bomb.tif", settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.status == 413 and peak < 16 * 1024**2  # decoding would allocate ≥ 256 MiB


# --- 4. no token: refused before the body is read ---------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_no_token_is_401_before_the_body_is_read(server, framing):
    announced = "Content-Length: 900000" if framing == "content-length" else "Transfer-Encoding: chunked"
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: multipart/form-data; boundary=xyz\r\n{announced}\r\n\r\n")
    first = b"--xyz\r\n" + b"\0" * 1000  # a start of the body; the rest is never sent
    if framing == "chunked":
        first = f"{len(first):x}\r\n".encode() + first + b"\r\n"
    answer = raw_request(server, head, first)  # returns only because the server answered early
    assert answer.startswith(b"HTTP/1.1 401")
    assert b"Bearer" in answer and b"token" in answer
    assert not list((server.config_dir / "server-data").glob("incoming-*"))


# --- 5. a chunked upload over the limit -------------------------------------------------------


def test_chunked_upload_over_the_limit_is_413_naming_it(server, image):
    boundary = "b0undary"

    def body():  # a well-formed multipart upload of 2.5 MiB, its length unknown in advance: sent chunked
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="spec"\r\n\r\n{WIENER}\r\n'
               f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.tif"\r\n'
               "Content-Type: image/tiff\r\n\r\n").encode()
        for _ in range(40):
            yield b"\0" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    with server.client() as client:
        r = client.post("/v1/jobs", content=body(),
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413, r.text
    detail = r.json()["detail"]
    assert "limit of 1 MiB" in detail and "--max-upload-mb" in detail
    assert not list((server.config_dir / "server-data").glob("incoming-*"))


# --- 6. calibration units ---------------------------------------------------------------------


def _imagej_tiff(image: np.ndarray, unit: str, pixel: float) -> bytes:
    """An ImageJ TIFF whose description carries ``unit`` as UTF-8, as other writers produce it
    (tifffile's ImageJ writer takes ASCII only)."""
    buf = io.BytesIO()
    description = f"ImageJ=1.54f\nimages=1\nunit={unit}\n".encode()
    tifffile.imwrite(buf, image, description=description, metadata=None, resolution=(1 / pixel, 1 / pixel))
    return buf.getvalue()


@pytest.fixture(scope="module")
def expected_wiener(image):
    from fluorecon.core.io import TiffMeta
    from fluorecon.tasks.deconvolve.classical import DeconvolveSpec, deconvolve_image

    return deconvolve_image(image, TiffMeta(axes="YX", pixel_size_um=0.1), DeconvolveSpec.model_validate_json(WIENER),
                            device="cpu")[0]


@pytest.mark.parametrize("unit,pixel", [
    ("µm", 0.1), ("μm", 0.1), ("um", 0.1), ("micron", 0.1), ("\\u00B5m", 0.1),  # micro sign, Greek mu, ImageJ's escape
    ("nm", 100.0), ("Å", 1000.0), ("mm", 1e-4),
])
def test_units_are_normalised_to_micron_at_submission(server, image, expected_wiener, unit, pixel, tmp_path):
    """The same 0.1 µm pixel in any length unit: accepted, the same result, written as 'micron'
    (a non-ASCII unit used to fail the job after its last iteration, writing the result)."""
    from fluorecon.core.io import read_tiff

    with server.client() as client:
        r = submit(client, _imagej_tiff(image, unit, pixel))
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "succeeded", job
        (tmp_path / "out.tif").write_bytes(client.get(job["result_url"]).content)
    got, meta = read_tiff(tmp_path / "out.tif")
    assert meta.unit == "micron" and meta.pixel_size_um == pytest.approx(0.1)
    np.testing.assert_allclose(got, expected_wiener, rtol=1e-5, atol=1e-5 * float(expected_wiener.max()))


@pytest.mark.parametrize("unit", ["furlong", "sec", "ms²"])
def test_unknown_unit_is_422_at_submission(server, image, unit):
    with server.client() as client:
        r = submit(client, _imagej_tiff(image, unit, 0.1), name="cells.tif")
        queued = client.get("/v1/health").json()["queued"]
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert unit in detail and "Image › Properties" in detail
    assert queued == 0


# --- 7. the OpenAPI description agrees with the API -------------------------------------------


def test_openapi_documents_401_and_the_methods_the_server_allows(server):
    schema = httpx.get(f"{server.url}/openapi.json").json()
    with server.client() as client:
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                if operation.get("security"):
                    assert "401" in operation["responses"], (method, path)
            concrete = path.replace("{job_id}", "someid")
            r = client.options(concrete)
            assert r.status_code == 204
            allowed = set(r.headers["allow"].split(", "))
            assert allowed == {m.upper() for m in operations} | {"OPTIONS"}, (path, allowed)
            r = client.put(concrete)
            assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == allowed
    assert {"GET", "DELETE"} <= set(httpx.options(f"{server.url}/v1/jobs/x").headers["allow"].split(", "))


def test_spec_field_schema_matches_what_is_accepted(server, image):
    schema = httpx.get(f"{server.url}/openapi.json").json()
    body = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    spec = body["properties"]["spec"]
    assert "spec" in body["required"] and spec["minLength"] == 1 and spec["maxLength"] == 65536
    with server.client() as client:
        r = submit(client, tiff_bytes(image), "")  # below minLength: refused, and told what to send
        assert r.status_code == 422 and "form field 'spec'" in r.json()["detail"]


# --- 8. messages name the upload, not the server's files ---------------------------------------


@pytest.mark.parametrize("make", [lambda img: b"II*\0garbage" * 10, lambda img: tiff_bytes(img)[:300]])
def test_errors_name_the_upload_not_server_paths(server, image, make):
    with server.client() as client:
        r = submit(client, make(image), name="my cells.tif")
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "my cells.tif" in detail
    for leak in (str(server.config_dir), "server-data", "incoming-", "input.tif"):
        assert leak not in detail
