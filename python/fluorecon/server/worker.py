"""Job workers: threads that take the oldest queued job, run the task function the CLI uses, and
commit every state change. One worker per GPU: jobs never compete for device memory."""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback

from fluorecon.core.io import TiffError, write_tiff
from fluorecon.server.inputs import public_message, read_input
from fluorecon.server.local import LOCAL_FILE
from fluorecon.server.jobtypes import JOB_TYPES, JobInputs
from fluorecon.server.settings import Settings, test_hold_dir
from fluorecon.server.store import JobStore

log = logging.getLogger("fluorecon.server")


class Workers:
    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.device = settings.resolved_device()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.hold_dir = test_hold_dir()
        self.threads = [
            threading.Thread(target=self._loop, name=f"fluorecon-worker-{i}", daemon=True)
            for i in range(settings.workers)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            job = self.store.claim_next()
            if job is None:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            self._run(job)

    def _hold(self, job_id: str, cancel) -> None:
        """Test-only (``FLUORECON_TEST_HOLD_DIR``, see settings.test_hold_dir): while ``<dir>/hold``
        exists, the job waits here, at its first report of intermediate progress (stored), after announcing
        ``<job id>.held``, until the file goes or the job is cancelled or the server stops."""
        gate = self.hold_dir / "hold"
        if not gate.exists():
            return
        (self.hold_dir / f"{job_id}.held").touch()
        while gate.exists() and not cancel():
            self.stopping.wait(0.02)

    def _run(self, job: dict) -> None:
        job_id = job["id"]
        folder = self.store.job_dir(job_id)
        last = [0.0]
        hold_pending = [self.hold_dir is not None]  # test-only, see _hold

        def cancel() -> bool:
            return self.stopping.is_set() or self.store.cancel_requested(job_id)

        def progress(done: int, total: int, message: str | None = None) -> None:
            now = time.monotonic()
            hold = hold_pending[0] and 0 < done < total
            if now - last[0] > 0.1 or done == total or hold:
                last[0] = now
                self.store.update(job_id, progress=done / max(total, 1), message=message or f"{done}/{total}")
            if hold:
                hold_pending[0] = False
                self._hold(job_id, cancel)

        job_type = JOB_TYPES.get(job["task"])
        if job_type is None:  # a job stored by a server that knew more tasks
            self.store.finish(job_id, "failed", f"This server does not run '{job['task']}' jobs.")
            return
        try:
            spec = job_type.spec.model_validate(json.loads(job["spec"]))
            if (folder / LOCAL_FILE).is_file():
                self._run_local(job_id, job_type, spec, folder, progress, cancel)
                return
            # The checks of submission again (a server restarted with smaller limits, a job queued by an
            # older server): a unit the result cannot be written in fails now, not after the last iteration.
            image, meta = read_input(folder / "input.tif", "the image", self.settings)
            psf_image = psf_meta = None
            if (folder / "psf.tif").is_file():
                psf_image, psf_meta = read_input(folder / "psf.tif", "the PSF image", self.settings)
            try:
                output = job_type.run(JobInputs(image, meta, psf_image, psf_meta), spec, self.settings, self.device,
                                      progress, cancel)
            except job_type.cancelled as err:
                self._cancelled(job_id, err)
                return
            write_tiff(folder / "result.tif", output.result, output.meta, info=output.info)
            self.store.finish(job_id, "succeeded", output.message, output.values)
        except (ValueError, TiffError) as err:
            self.store.finish(job_id, "failed", self._public(str(err), folder))
        except Exception as err:  # a job must never take the worker down
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            self.store.finish(job_id, "failed", self._public(f"Internal error: {type(err).__name__}: {err}", folder))

    def _run_local(self, job_id: str, job_type, spec, folder, progress, cancel) -> None:
        """A local-path job (server.local): block by block from the input file into the output path."""
        from fluorecon.core.streaming import open_lazy

        paths = json.loads((folder / LOCAL_FILE).read_text())
        try:
            with open_lazy(paths["input_path"]) as (source, meta):
                job_type.stream(source, meta, spec, paths["output_path"], self.settings, self.device, progress, cancel)
        except job_type.cancelled as err:
            self._cancelled(job_id, err)
            return
        self.store.finish(job_id, "succeeded", f"Wrote {paths['output_path']}.",
                          {"output_path": paths["output_path"]})

    def _cancelled(self, job_id: str, err: BaseException) -> None:
        if self.stopping.is_set() and not self.store.cancel_requested(job_id):
            # Server shutting down: the job is not lost, it runs again on the next start.
            self.store.update(job_id, state="queued", progress=0.0, message="Re-queued: server stopped.")
        else:
            self.store.finish(job_id, "cancelled", str(err))

    def _public(self, message: str, folder) -> str:
        """A job's message as a client sees it: no paths of the server's files."""
        for name, what in (("result.tif", "the result"), ("psf.tif", "the PSF image"), ("input.tif", "the image")):
            message = public_message(message, folder / name, what)
        return message.replace(str(folder), "the job's folder").replace(str(self.settings.data_dir), "<server data>")
