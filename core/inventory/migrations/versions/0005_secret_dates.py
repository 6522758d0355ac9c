"""secret dates: when each resource's secret was first stored and last replaced or rotated (never its value)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

A resource that already had a secret is taken to have had it since it was registered: its age is then
never understated, so an old secret is not missed by the ``secret_warn_days`` policy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_set_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("secret_rotated_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE resources SET secret_set_at = created_at WHERE secret_ref IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_column("secret_rotated_at")
        batch_op.drop_column("secret_set_at")
