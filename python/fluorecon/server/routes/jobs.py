"""Jobs: submit (multipart: a JSON ``spec`` field and an ``image`` TIFF, optional ``psf`` TIFF),
status, result, cancel. Inputs are validated here, by the job type's own checks
(:mod:`fluorecon.server.jobtypes`), so bad data gets a 4xx before it is queued."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import ValidationError

from fluorecon.core.io import TiffError, read_tiff
from fluorecon.server.deps import get_settings, get_store, require_token
from fluorecon.server.jobtypes import JOB_TYPES, JobInputs
from fluorecon.server.schemas import ErrorPublic, JobPublic, parse_job_spec
from fluorecon.server.store import ACTIVE, JobStore

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)])
ERRORS = {code: {"model": ErrorPublic} for code in (400, 401, 404, 409, 413, 422, 503)}


def _spec(text: str):
    try:
        return parse_job_spec(text)
    except ValueError as err:
        if not isinstance(err, ValidationError):
            raise HTTPException(422, f"Invalid spec: spec is not valid JSON ({err}).") from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in err.errors()
        )
        if any(e["type"] == "union_tag_invalid" for e in err.errors()):
            problems += f" (tasks this server runs: {', '.join(JOB_TYPES)})"
        raise HTTPException(422, f"Invalid spec: {problems}") from None


def _save(upload: UploadFile, path: Path) -> None:
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)


def _read(path: Path, what: str):
    try:
        return read_tiff(path)
    except TiffError as err:
        raise HTTPException(400, f"The {what} is not a usable TIFF: {err}") from None
    except Exception as err:  # tifffile raises many types on fuzzed bytes
        raise HTTPException(400, f"The {what} is not a usable TIFF ({type(err).__name__}).") from None


def _get(store: JobStore, job_id: str) -> dict:
    row = store.get(job_id)
    if row is None:
        raise HTTPException(404, f"No job with id {job_id!r}; it may have been deleted.")
    return row


@router.post("", status_code=201, response_model=JobPublic, responses=ERRORS, summary="Submit a job")
def submit(
    request: Request,
    spec: str = Form(..., description="The job's spec as JSON (a form field, not a file): a DeconvolveSpec, "
                     "UnmixSpec or RegisterSpec chosen by its 'task' ('deconvolve' when absent)."),
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
        _save(image, incoming / "input.tif")
        data, meta = _read(incoming / "input.tif", "image")
        psf_image = psf_meta = None
        if psf is not None and psf.filename:
            if not job_type.accepts_psf:
                raise HTTPException(422, f"A '{job_type.task}' job takes no PSF; send only the image.")
            _save(psf, incoming / "psf.tif")
            psf_image, psf_meta = _read(incoming / "psf.tif", "PSF image")
        try:
            if data.size > settings.max_voxels:
                raise ValueError(f"Image has {data.size} voxels, more than this server's limit of {settings.max_voxels}.")
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


@router.get("/{job_id}", response_model=JobPublic, responses=ERRORS, summary="Job state and progress")
def status(job_id: str, store: JobStore = Depends(get_store)) -> JobPublic:
    return JobPublic.from_row(_get(store, job_id))


@router.get(
    "/{job_id}/result",
    response_class=FileResponse,
    responses={200: {"content": {"image/tiff": {}}}, **ERRORS},
    summary="The result TIFF",
)
def result(job_id: str, store: JobStore = Depends(get_store)):
    row = _get(store, job_id)
    path = store.job_dir(job_id) / "result.tif"
    if row["state"] != "succeeded" or not path.is_file():
        raise HTTPException(409, f"Job {job_id} has no result: it is {row['state']}. {row['message']}".strip())
    return FileResponse(path, media_type="image/tiff", filename=f"{job_id}.tif")


@router.delete("/{job_id}", response_model=JobPublic, responses=ERRORS, summary="Cancel a job, or delete a finished one")
def cancel(job_id: str, store: JobStore = Depends(get_store)) -> JobPublic:
    row = _get(store, job_id)
    if row["state"] in ACTIVE:
        store.request_cancel(job_id)
        return JobPublic.from_row(_get(store, job_id))
    store.delete(job_id)
    return JobPublic.from_row(row | {"message": "Deleted."})
