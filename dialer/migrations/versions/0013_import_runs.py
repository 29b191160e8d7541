"""import runs: files imported from the console or the command line, their rejected lines

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("created_at", dialer.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", dialer.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", dialer.db.UTCDateTime(), nullable=True),
        sa.Column("total_lines", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("unmatched", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("header", sa.JSON(), nullable=True),
        sa.Column("ignored_columns", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_import_runs_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_index(op.f("ix_import_runs_created_at"), "import_runs", ["created_at"])
    op.create_index(op.f("ix_import_runs_state"), "import_runs", ["state"])
    op.create_table(
        "import_run_files",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["import_runs.id"],
            name=op.f("fk_import_run_files_run_id_import_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_import_run_files")),
    )
    op.create_table(
        "import_run_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("account_no", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["import_runs.id"],
            name=op.f("fk_import_run_lines_run_id_import_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_run_lines")),
    )
    op.create_index(op.f("ix_import_run_lines_account_no"), "import_run_lines", ["account_no"])
    op.create_index(op.f("ix_import_run_lines_run_id"), "import_run_lines", ["run_id"])


def downgrade() -> None:
    op.drop_table("import_run_lines")
    op.drop_table("import_run_files")
    op.drop_table("import_runs")
