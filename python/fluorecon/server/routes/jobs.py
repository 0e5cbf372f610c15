"""Jobs: submit (multipart: a JSON ``spec`` field and an ``image`` TIFF, optional ``psf`` TIFF),
status, result, cancel. Inputs are validated here, by the job type's own checks
(:mod:`fluorecon.server.jobtypes`), so bad data gets a 4xx before it is queued."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

import anyio
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fluorecon.server.deps import get_settings, get_store, require_token
from fluorecon.server.inputs import InputRefused, display_name, read_input
from fluorecon.server.local import LOCAL_FILE, LocalPathRefused, check_local_paths
from fluorecon.server.jobtypes import JOB_TYPES, JobInputs
from fluorecon.server.schemas import MAX_SPEC_CHARS, JobPublic, SpecError, error_responses, parse_job_spec
from fluorecon.server.store import ACTIVE, JobStore

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)])


def _spec(text: str):
    try:
        return parse_job_spec(text)
    except SpecError as err:
        raise HTTPException(422, f"Invalid spec: {err}") from None
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in err.errors()
        )
        if any(e["type"] == "union_tag_invalid" for e in err.errors()):
            problems += f" (tasks this server runs: {', '.join(JOB_TYPES)})"
        raise HTTPException(422, f"Invalid spec: {problems}") from None


def _save(upload: UploadFile, path: Path) -> None:
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)


def _read(path: Path, name: str, settings):
    try:
        return read_input(path, name, settings)
    except InputRefused as err:
        raise HTTPException(err.status, str(err)) from None


class OpenFileResponse(Response):
    """Sends a file that is already open: its length and bytes come from the handle, so a deleted
    (unlinked) file is still sent whole. Closes the handle when done or when the client goes away."""

    chunk_size = 1024 * 1024

    def __init__(self, handle: BinaryIO, *, media_type: str, filename: str) -> None:
        self.handle = handle
        self.size = os.fstat(handle.fileno()).st_size
        super().__init__(media_type=media_type, headers={
            "content-length": str(self.size), "content-disposition": f'attachment; filename="{filename}"'})

    async def __call__(self, scope, receive, send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            remaining = self.size
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(self.handle.read, min(self.chunk_size, remaining))
                if not chunk:  # cannot happen: results are written once, by rename, and never changed
                    raise OSError(f"result file ended {remaining} bytes early")
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        finally:
            self.handle.close()


def _get(store: JobStore, job_id: str) -> dict:
    row = store.get(job_id)
    if row is None:
        raise HTTPException(404, f"No job with id {job_id!r}; it may have been deleted.")
    return row


@router.post("", status_code=201, response_model=JobPublic, responses=error_responses(400, 401, 413, 422, 503),
             summary="Submit a job")
def submit(
    request: Request,
    spec: str = Form(..., min_length=1, max_length=MAX_SPEC_CHARS,
                     description="The job's spec as JSON (a form field, not a file): a DeconvolveSpec, "
                     "UnmixSpec or RegisterSpec chosen by its 'task' ('deconvolve' when absent). Required and "
                     "non-empty: a multipart form cannot tell an empty field from a missing one."),
    image: UploadFile = File(..., description="The image, an ImageJ TIFF."),
    psf: UploadFile | None = File(None, description="Optional measured PSF, a TIFF (deconvolve only)."),
    settings=Depends(get_settings),
    store: JobStore = Depends(get_store),
) -> JobPublic:
    job_spec = _spec(spec)
    job_type = JOB_TYPES[job_spec.task]
    if store.queued_count() >= settings.max_queue:
        raise HTTPException(503, "The job queue is full; try again shortly.", headers={"Retry-After": "2"})
    incoming = Path(tempfile.mkdtemp(prefix="incoming-", dir=store.data_dir))
    try:
        # Files are saved as input.tif / psf.tif; messages name them as the client did.
        _save(image, incoming / "input.tif")
        data, meta = _read(incoming / "input.tif", display_name(image.filename, "the image"), settings)
        psf_image = psf_meta = None
        if psf is not None and psf.filename:
            if not job_type.accepts_psf:
                raise HTTPException(422, f"A '{job_type.task}' job takes no PSF; send only the image.")
            _save(psf, incoming / "psf.tif")
            psf_image, psf_meta = _read(incoming / "psf.tif", display_name(psf.filename, "the PSF image"), settings)
        try:
            job_type.check(JobInputs(data, meta, psf_image, psf_meta), job_spec, settings)
        except ValueError as err:
            raise HTTPException(422, str(err)) from None
        job_id = store.new_id()
        folder = store.job_dir(job_id)
        folder.parent.mkdir(parents=True, exist_ok=True)
        incoming.rename(folder)  # files first, then the row: a listed job always has its inputs
        if not store.add(job_id, job_spec.task, job_spec.model_dump_json(), max_queue=settings.max_queue):
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(503, "The job queue is full; try again shortly.", headers={"Retry-After": "2"})
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    request.app.state.workers.wake.set()
    return JobPublic.from_row(store.get(job_id))


class LocalJobCreate(BaseModel):
    """A job on files of the server's machine, named by path instead of uploaded (server.local)."""

    model_config = ConfigDict(extra="forbid")
    spec: dict = Field(description="The job's spec, as for an upload (a task with a block-wise run: "
                       f"{', '.join(t for t, j in JOB_TYPES.items() if j.stream)}).")
    input_path: str = Field(min_length=1, max_length=4096, description="Absolute path of the input (TIFF, OME-TIFF "
                            "or OME-Zarr folder), readable by the server's user.")
    output_path: str = Field(min_length=1, max_length=4096, description="Absolute path of the output (.zarr or "
                             ".tif) in a folder writable by the server's user; never the input.")


@router.post("/local", status_code=201, response_model=JobPublic, responses=error_responses(401, 403, 422, 503),
             summary="Submit a job on local files (block-wise, for files too large to upload)")
def submit_local(request: Request, body: LocalJobCreate, settings=Depends(get_settings),
                 store: JobStore = Depends(get_store)) -> JobPublic:
    job_spec = _spec(json.dumps(body.spec))
    if JOB_TYPES[job_spec.task].stream is None:
        raise HTTPException(422, f"A '{job_spec.task}' job takes an upload; local paths work for "
                            f"{', '.join(t for t, j in JOB_TYPES.items() if j.stream)}.")
    try:
        source, target = check_local_paths(body.input_path, body.output_path)
    except LocalPathRefused as err:
        raise HTTPException(err.status, str(err)) from None
    job_id = store.new_id()
    folder = store.job_dir(job_id)
    folder.mkdir(parents=True)
    (folder / LOCAL_FILE).write_text(json.dumps({"input_path": str(source), "output_path": str(target)}))
    if not store.add(job_id, job_spec.task, job_spec.model_dump_json(), max_queue=settings.max_queue):
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(503, "The job queue is full; try again shortly.", headers={"Retry-After": "2"})
    request.app.state.workers.wake.set()
    return JobPublic.from_row(store.get(job_id))


@router.get("/{job_id}", response_model=JobPublic, responses=error_responses(401, 404), summary="Job state and progress")
def status(job_id: str, store: JobStore = Depends(get_store)) -> JobPublic:
    return JobPublic.from_row(_get(store, job_id))


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={200: {"content": {"image/tiff": {"schema": {"type": "string", "format": "binary"}}},
                     "description": "The result TIFF, whole."}, **error_responses(401, 404, 409)},
    summary="The result TIFF",
)
def result(job_id: str, store: JobStore = Depends(get_store)):
    # Row and file are taken together: a DELETE racing this download either comes first (404) or
    # after the file is open (the download is whole).
    row, handle = store.open_result(job_id)
    if row is None:
        raise HTTPException(404, f"No job with id {job_id!r}; it may have been deleted.")
    if handle is None:
        raise HTTPException(409, f"Job {job_id} has no result: it is {row['state']}. {row['message']}".strip())
    return OpenFileResponse(handle, media_type="image/tiff", filename=f"{job_id}.tif")


@router.delete("/{job_id}", response_model=JobPublic, responses=error_responses(401, 404),
               summary="Cancel a job, or delete a finished one")
def cancel(job_id: str, store: JobStore = Depends(get_store)) -> JobPublic:
    row = _get(store, job_id)
    if row["state"] in ACTIVE:
        store.request_cancel(job_id)
        return JobPublic.from_row(_get(store, job_id))
    store.delete(job_id)
    return JobPublic.from_row(row | {"message": "Deleted."})
