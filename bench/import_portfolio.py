"""Portfolio import throughput: `python bench/import_portfolio.py --accounts 100000`.

Generates a sample bank export (dialer.portfolio.sample), then imports it twice through the
same code as `dialer accounts import` (parse + one transaction): a first import (inserts)
and a re-import (updates). Prints accounts per second and peak memory. Uses DATABASE_URL
when set (it must be an empty database: the benchmark refuses to touch existing tables),
else SQLite in a temporary DIALER_HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy import inspect

from dialer.config import load_settings
from dialer.db import get_database, upgrade
from dialer.portfolio.importer import open_portfolio
from dialer.portfolio.sample import generate_portfolio_csv
from dialer.portfolio.service import import_accounts


def run(n: int, seed: int) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="bench-import-"))
    env = {"DIALER_HOME": str(home)}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    settings = load_settings(env)
    db = get_database(settings)
    if inspect(db.engine).get_table_names():
        raise SystemExit(
            "DATABASE_URL points at a database with tables; give the benchmark an empty one"
        )
    upgrade(settings)
    csv_path = home / "portfolio.csv"
    generate_portfolio_csv(csv_path, n, seed)
    figures: dict[str, object] = {"accounts": n, "database": settings.database_url.split(":")[0]}
    for label in ("first_import", "re_import"):
        started = time.perf_counter()
        with db.begin() as session:
            result = import_accounts(session, open_portfolio(csv_path.read_bytes()))
        seconds = time.perf_counter() - started
        figures[label] = {
            "seconds": round(seconds, 1),
            "accounts_per_second": round(n / seconds),
            "imported": result.imported,
            "updated": result.updated,
            "rejected": len(result.rejected),
        }
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.accounts, args.seed)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['accounts']} accounts on {figures['database']}:")
    for label in ("first_import", "re_import"):
        f = figures[label]
        print(f"  {label:<13} {f['seconds']:>6} s  {f['accounts_per_second']:>7} accounts/s")
    print(f"  peak RSS {figures['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
