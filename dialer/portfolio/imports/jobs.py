"""The RQ job that runs a file uploaded in the console: the same use case as the CLI
(service.import_file), its progress in Redis as it goes, the whole file one transaction."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from dialer.campaigns.followups import local_today
from dialer.portfolio.importer import ImportFileError
from dialer.portfolio.imports import service
from dialer.portfolio.imports.models import ImportRun, ImportRunFile, ImportState
from dialer.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)

# A 150 000-line portfolio takes a minute or two on SQLite; RQ's default is 3 minutes.
JOB_TIMEOUT_SECONDS = 3600


def job_id(run_id: int) -> str:
    return f"import-run-{run_id}"


def enqueue(rt: Runtime, run_id: int) -> None:
    """Queue the run's job (after the run is committed: the job looks it up)."""
    rt.queue.enqueue(
        run_import,
        run_id,
        job_id=job_id(run_id),
        job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=3600,
        description=f"import run {run_id}",
    )


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
