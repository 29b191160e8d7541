"""The RQ job that runs a file uploaded in the console: the same use case as the CLI
(service.import_file), its progress in Redis as it goes, the whole file one transaction."""

from __future__ import annotations

import logging

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select, update

from dialer.messages import N_
from dialer.portfolio.importer import ImportFileError
from dialer.portfolio.imports import service
from dialer.portfolio.imports.models import ImportRun, ImportRunFile, ImportState
from dialer.runtime import Runtime, get_runtime, local_today

log = logging.getLogger(__name__)

# A 150 000-line portfolio takes a minute or two on SQLite; RQ's default is 3 minutes.
JOB_TIMEOUT_SECONDS = 3600


def job_id(run_id: int) -> str:
    return f"import-run-{run_id}"


def enqueue(rt: Runtime, run_id: int) -> None:
    """Queue the run's job (after the run is committed: the job looks it up)."""
    rt.imports_queue.enqueue(
        run_import,
        run_id,
        job_id=job_id(run_id),
        job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=3600,
        description=f"import run {run_id}",
    )


def try_enqueue(rt: Runtime, run_id: int) -> bool:
    """Queue the run's job, or log why not (Redis down): the run stays queued, with its
    file, and look_after queues it again when its page is next read."""
    try:
        enqueue(rt, run_id)
    except redis.RedisError as exc:
        log.warning("import run %d not queued yet: %s", run_id, exc)
        return False
    return True


# An RQ job in one of these will never finish its run.
_LOST = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
LOST_WORKER = N_(
    "the import stopped before it finished (its worker was lost); nothing of the file was "
    "written: import it again"
)


def look_after(rt: Runtime, run_id: int) -> None:
    """A run whose job is gone is not left waiting for ever: queued with no job (queueing
    failed after the commit, or Redis lost it), it is queued again; running with its job
    failed, stopped or gone (a worker killed mid-file: its transaction rolled back), it is
    failed with the reason. Called when the run's page or status is read."""
    with rt.db.session() as s:
        state = s.scalar(select(ImportRun.state).where(ImportRun.id == run_id))
    if state not in (ImportState.QUEUED, ImportState.RUNNING):
        return
    try:
        job: Job | None = Job.fetch(job_id(run_id), connection=rt.redis)
    except NoSuchJobError:
        job = None
    except redis.RedisError:
        return  # cannot tell now; the next read will
    lost = job is None or job.get_status(refresh=False) in _LOST
    if not lost:
        return
    if state == ImportState.QUEUED:
        try_enqueue(rt, run_id)
        return
    with rt.db.begin() as s:
        still = s.execute(
            update(ImportRun)
            .where(ImportRun.id == run_id, ImportRun.state == ImportState.RUNNING)
            .values(state=ImportState.FAILED)
        ).rowcount
        if still:
            service.fail(s, run_id, error=LOST_WORKER, now=rt.clock.now())
    log.warning("import run %d: its job was lost; the run is failed", run_id)


def run_import(run_id: int) -> str:
    """RQ job: import an uploaded file (see execute)."""
    return execute(get_runtime(), run_id)


def execute(rt: Runtime, run_id: int) -> str:
    """Run a queued import once (a repeated job finds it no longer queued); a refused or
    failing file leaves the run `failed` with the reason, and nothing of it written."""
    with rt.db.begin() as s:
        claimed = s.execute(
            update(ImportRun)
            .where(ImportRun.id == run_id, ImportRun.state == ImportState.QUEUED)
            .values(state=ImportState.RUNNING, started_at=rt.clock.now())
        ).rowcount
        data = s.scalar(select(ImportRunFile.data).where(ImportRunFile.run_id == run_id))
    if not claimed:
        return "not queued"
    r = rt.redis
    service.report_progress(r, run_id, 0)
    if data is None:
        with rt.db.begin() as s:
            service.fail(
                s, run_id, error="the uploaded file is no longer stored", now=rt.clock.now()
            )
        return "failed"
    try:
        with rt.db.begin() as s:
            run = s.get_one(ImportRun, run_id)
            service.import_file(
                s,
                run,
                data,
                region=rt.settings.default_region,
                today=local_today(rt),
                now=rt.clock.now(),
                progress=lambda done: service.report_progress(r, run_id, done),
            )
            service.finish(s, run, now=rt.clock.now())
            counts = (run.imported, run.updated, run.duplicates, run.rejected, run.warnings)
    except ImportFileError as exc:
        with rt.db.begin() as s:
            service.fail(s, run_id, error=str(exc), now=rt.clock.now())
        log.info("import run %d refused: %s", run_id, exc)
        return "failed"
    except Exception:
        log.exception("import run %d stopped", run_id)
        with rt.db.begin() as s:
            service.fail(
                s, run_id, error="the import stopped on an internal error", now=rt.clock.now()
            )
        return "failed"
    log.info(
        "import run %d done: %d imported, %d updated, %d duplicates, %d rejected, %d warnings",
        run_id,
        *counts,
    )
    return "done"
