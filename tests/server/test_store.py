"""JobStore: a result opened for download survives a delete; a restart clears half-handled folders."""

from fluorecon.server.store import JobStore


def _succeeded_job(store: JobStore, payload: bytes) -> str:
    job_id = store.new_id()
    store.job_dir(job_id).mkdir(parents=True)
    (store.job_dir(job_id) / "result.tif").write_bytes(payload)
    assert store.add(job_id, "deconvolve", "{}", max_queue=8)
    store.finish(job_id, "succeeded", "Done.")
    return job_id


def test_open_result_survives_delete(tmp_path):
    store = JobStore(tmp_path)
    payload = bytes(range(256)) * 4096
    job_id = _succeeded_job(store, payload)
    row, handle = store.open_result(job_id)
    assert row["state"] == "succeeded"
    store.delete(job_id)
    assert not store.job_dir(job_id).exists() and not list(tmp_path.glob("deleted-*"))
    with handle:
        assert handle.read() == payload  # the open file outlives the unlink
    assert store.open_result(job_id) == (None, None)
    store.close()


def test_open_result_of_unfinished_job_has_no_file(tmp_path):
    store = JobStore(tmp_path)
    job_id = store.new_id()
    store.add(job_id, "deconvolve", "{}", max_queue=8)
    row, handle = store.open_result(job_id)
    assert row["state"] == "queued" and handle is None
    store.close()


def test_recover_removes_half_handled_folders(tmp_path):
    store = JobStore(tmp_path)
    job_id = _succeeded_job(store, b"x")
    for leftover in ("incoming-abc", "deleted-def"):
        (tmp_path / leftover).mkdir()
        (tmp_path / leftover / "input.tif").write_bytes(b"y")
    store.recover()
    assert not list(tmp_path.glob("incoming-*")) and not list(tmp_path.glob("deleted-*"))
    assert (store.job_dir(job_id) / "result.tif").read_bytes() == b"x"
    store.close()
