"""Portfolio and payment files imported as recorded runs (docs/console.md): models (the run,
its uploaded file until it has run, its rejected lines and warnings), service (checking a
file, the one use case the CLI and the job call, progress in Redis, the rejected rows as a
file to fix and send again) and jobs (the RQ job that runs an uploaded file)."""
