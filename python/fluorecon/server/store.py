"""Jobs in SQLite, their files on disk. Every state change is committed before it is reported,
so a killed server finds every accepted job again on restart."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import BinaryIO

ACTIVE = ("queued", "running")
STATES = ("queued", "running", "succeeded", "failed", "cancelled")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    result_values TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created);
"""


class JobStore:
    """Thread-safe job table (one connection, one lock; WAL so readers never block)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.data_dir / "jobs.sqlite", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "result_values" not in columns:  # a store written before results carried structured values
            self._db.execute("ALTER TABLE jobs ADD COLUMN result_values TEXT NOT NULL DEFAULT '{}'")

    def job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def _exec(self, sql: str, args=()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def add(self, job_id: str, task: str, spec_json: str, *, max_queue: int) -> bool:
        """Insert a queued job unless the queue is full (checked and inserted atomically)."""
        with self._lock:
            (queued,) = self._db.execute("SELECT COUNT(*) FROM jobs WHERE state='queued'").fetchone()
            if queued >= max_queue:
                return False
            self._db.execute(
                "INSERT INTO jobs (id, task, spec, state, created) VALUES (?, ?, ?, 'queued', ?)",
                (job_id, task, spec_json, time.time()),
            )
            return True

    def get(self, job_id: str) -> dict | None:
        rows = self._exec("SELECT * FROM jobs WHERE id=?", (job_id,))
        return dict(rows[0]) if rows else None

    def list(self, limit: int = 100) -> list[dict]:
        return [dict(r) for r in self._exec("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,))]

    def claim_next(self) -> dict | None:
        """Move the oldest queued job to running and return it."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE state='queued' ORDER BY created LIMIT 1").fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE jobs SET state='running', started=?, attempts=attempts+1, progress=0 WHERE id=?",
                (time.time(), row["id"]),
            )
            return dict(row) | {"state": "running"}

    def update(self, job_id: str, **fields) -> None:
        names = ", ".join(f"{k}=?" for k in fields)
        self._exec(f"UPDATE jobs SET {names} WHERE id=?", (*fields.values(), job_id))

    def finish(self, job_id: str, state: str, message: str, values: dict | None = None) -> None:
        """End a job; ``values`` are its structured results (JSON-serialisable), shown as the job's ``values``."""
        self._exec(
            "UPDATE jobs SET state=?, message=?, finished=?, progress=CASE WHEN ?='succeeded' THEN 1 ELSE progress END,"
            " result_values=? WHERE id=?",
            (state, message, time.time(), state, json.dumps(values or {}), job_id),
        )

    def request_cancel(self, job_id: str) -> str | None:
        """Cancel a queued job now, flag a running one; returns the state after the call."""
        with self._lock:
            row = self._db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return None
            if row["state"] == "queued":
                self._db.execute(
                    "UPDATE jobs SET state='cancelled', message='Cancelled before it started.', finished=? WHERE id=?",
                    (time.time(), job_id),
                )
                return "cancelled"
            if row["state"] == "running":
                self._db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
            return row["state"]

    def cancel_requested(self, job_id: str) -> bool:
        rows = self._exec("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,))
        return bool(rows and rows[0][0])

    def open_result(self, job_id: str) -> tuple[dict | None, BinaryIO | None]:
        """The job's row and, if it succeeded, its result file opened for reading, both taken under the
        lock ``delete`` holds: a result being sent stays whole even when the job is deleted meanwhile
        (the open file outlives the unlink)."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None or row["state"] != "succeeded":
                return (dict(row) if row else None), None
            try:
                return dict(row), open(self.job_dir(job_id) / "result.tif", "rb")
            except FileNotFoundError:
                return dict(row), None

    def delete(self, job_id: str) -> None:
        """Remove the row and, under the same lock, move the job's folder out of reach; the folder is
        removed after the lock is released."""
        trash = self.data_dir / f"deleted-{job_id}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
            try:
                os.rename(self.job_dir(job_id), trash)
            except FileNotFoundError:
                return
        shutil.rmtree(trash, ignore_errors=True)

    def recover(self, max_attempts: int = 3) -> int:
        """After a restart: jobs left 'running' by a dead server are queued again (or failed
        with the reason after ``max_attempts``); returns how many were re-queued. Uploads and deleted
        folders a dead server left half-handled are removed."""
        for leftover in [*self.data_dir.glob("incoming-*"), *self.data_dir.glob("deleted-*")]:
            shutil.rmtree(leftover, ignore_errors=True)
        with self._lock:
            failed = self._db.execute(
                "UPDATE jobs SET state='failed', finished=?, message=? WHERE state='running' AND attempts>=?",
                (time.time(), f"The server stopped during this job {max_attempts} times; giving up.", max_attempts),
            ).rowcount
            requeued = self._db.execute(
                "UPDATE jobs SET state='queued', progress=0, message='Re-queued after a server restart.' WHERE state='running'"
            ).rowcount
            del failed
            return requeued

    def queued_count(self) -> int:
        return self._exec("SELECT COUNT(*) FROM jobs WHERE state='queued'")[0][0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
