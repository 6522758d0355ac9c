"""rotation users: the pair of server users a two-phase rotation alternates between (names only, never a secret)

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01

Empty for every existing resource: the pair is recorded by its first two-phase rotation.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rotation_users", sa.String(400), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_column("rotation_users")
