"""config intents: a config change is announced before the file is written

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "config_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deploy_id", sa.Integer(), nullable=False),
        sa.Column("effect", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("owner", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["deploy_id"], ["deploys.id"], name=op.f("fk_config_intents_deploy_id_deploys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_intents")),
    )
    with op.batch_alter_table("config_intents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_config_intents_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("config_intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_config_intents_state"))
    op.drop_table("config_intents")
