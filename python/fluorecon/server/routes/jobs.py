"""Jobs: submit (multipart: a JSON ``spec`` field and an ``image`` TIFF, optional ``psf`` TIFF),
status, result, cancel. Inputs are validated here so bad data gets a 4xx before it is queued."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import ValidationError

from fluorecon.core.io import TiffError, read_tiff
from fluorecon.server.deps import get_settings, get_store, require_token
from fluorecon.server.schemas import ErrorPublic, JobPublic
from fluorecon.server.store import ACTIVE, JobStore
from fluorecon.tasks.deconvolve import DeconvolveSpec, build_psf, pixel_sizes_nm, spatial_axes, validate_image

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)])
ERRORS = {code: {"model": ErrorPublic} for code in (400, 401, 404, 409, 413, 422, 503)}


def _spec(text: str) -> DeconvolveSpec:
    try:
        return DeconvolveSpec.model_validate_json(text)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in err.errors()
        )
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
    spec: str = Form(..., description="DeconvolveSpec as JSON (a form field, not a file)."),
    image: UploadFile = File(..., description="The image, an ImageJ TIFF."),
    psf: UploadFile | None = File(None, description="Optional measured PSF, a TIFF."),
    settings=Depends(get_settings),
    store: JobStore = Depends(get_store),
) -> JobPublic:
    job_spec = _spec(spec)
    if store.queued_count() >= settings.max_queue:
        raise HTTPException(503, "The job queue is full; try again shortly.", headers={"Retry-After": "2"})
    incoming = Path(tempfile.mkdtemp(prefix="incoming-", dir=store.data_dir))
    try:
        _save(image, incoming / "input.tif")
        data, meta = _read(incoming / "input.tif", "image")
        psf_image = psf_meta = None
        if psf is not None and psf.filename:
            _save(psf, incoming / "psf.tif")
            psf_image, psf_meta = _read(incoming / "psf.tif", "PSF image")
        try:
            validate_image(data, meta.axes, max_voxels=settings.max_voxels)
            spatial = [data.shape[meta.axes.index(a)] for a in spatial_axes(meta.axes)]
            if psf_image is not None or job_spec.psf is not None:
                # Builds the PSF once to check it (a theoretical 3D PSF takes ~1 s: checked by the worker).
                if psf_image is not None or len(spatial) == 2:
                    build_psf(spatial, meta, job_spec, psf_image, psf_meta)
                else:
                    pixel_sizes_nm(meta, job_spec.psf, 3)
            else:
                raise ValueError("No PSF: put PSF parameters in spec.psf (na, wavelength_nm, …) or upload a 'psf' TIFF.")
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
