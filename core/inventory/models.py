"""The inventory: deploys, resources, their attachments, database servers and the audit trail.

No column ever holds a secret: handles are stored without their password, token or key, which live in
the OS keyring under ``secret_ref``.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite and MariaDB keep no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the inventory")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ResourceState(enum.StrEnum):
    AVAILABLE = "available"
    ATTACHED = "attached"
    DETACHED = "detached"
    FAILED = "failed"
    DEPROVISIONED = "deprovisioned"


class Origin(enum.StrEnum):
    REGISTERED = "registered"
    PROVISIONED = "provisioned"


class Deploy(Base):
    __tablename__ = "deploys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    app: Mapped[str] = mapped_column(String(200), default="")
    environment: Mapped[str] = mapped_column(String(100), default="")
    config_kind: Mapped[str] = mapped_column(String(40), default="envfile")
    config_location: Mapped[str] = mapped_column(String(1000))
    restart_cmd: Mapped[str | None] = mapped_column(Text)
    maintenance_on_cmd: Mapped[str | None] = mapped_column(Text)
    maintenance_off_cmd: Mapped[str | None] = mapped_column(Text)
    maintenance_var: Mapped[str | None] = mapped_column(String(200))
    hook_timeout: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    attachments: Mapped[list[Attachment]] = relationship(back_populates="deploy")


class Server(Base):
    """A database server (or SQLite folder) Changeover may provision databases on."""

    __tablename__ = "servers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    handle: Mapped[str] = mapped_column(String(2000))
    secret_ref: Mapped[str | None] = mapped_column(String(80))
    secret_slots: Mapped[str] = mapped_column(String(400), default="")
    options: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Resource(Base):
    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    scheme: Mapped[str] = mapped_column(String(60), default="")
    handle: Mapped[str] = mapped_column(String(2000))
    secret_ref: Mapped[str | None] = mapped_column(String(80))
    secret_slots: Mapped[str] = mapped_column(String(400), default="")
    origin: Mapped[str] = mapped_column(String(20), default=Origin.REGISTERED.value)
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id"))
    state: Mapped[str] = mapped_column(String(20), default=ResourceState.AVAILABLE.value)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    keep_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deprovisioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: when the secret was first stored, and when it was last changed (replaced or rotated); never its value
    secret_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the two server users a two-phase rotation alternates between ("app,app_alt"), first the original
    rotation_users: Mapped[str] = mapped_column(String(400), default="", server_default="")

    server: Mapped[Server | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(back_populates="resource")


class Attachment(Base):
    """One period during which a resource was attached to a deploy under an env var; never overwritten."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deploy_id: Mapped[int] = mapped_column(ForeignKey("deploys.id"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    env_var: Mapped[str] = mapped_column(String(200))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    deploy: Mapped[Deploy] = relationship(back_populates="attachments")
    resource: Mapped[Resource] = relationship(back_populates="attachments")


class Event(Base):
    """The audit trail: one row per action, with its result. Never a secret."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_name: Mapped[str] = mapped_column(String(200), index=True)
    result: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")


class Setting(Base):
    __tablename__ = "settings"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)


class IntentState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    UNDONE = "undone"
    ABANDONED = "abandoned"


class ConfigIntent(Base):
    """A config change announced before the deploy's file is written, so a crash can be finished or dropped.

    ``effect`` says what the inventory must record once the file holds the change (resource and variable
    names, never a value): ``{"op": "attach", "resource": NAME, "var": VAR}`` or ``{"op": "detach",
    "resource": NAME, "vars": [VAR...], "keep_days": N}``. ``owner`` is who wrote it (actor, pid, host).
    """

    __tablename__ = "config_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deploy_id: Mapped[int] = mapped_column(ForeignKey("deploys.id"))
    effect: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), index=True)
    owner: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    deploy: Mapped[Deploy] = relationship()


#: states an upgrade run can end in; a run in any other state still holds its databases and deploys
RUN_TERMINAL_STATES = frozenset({"done", "rolled_back"})


class UpgradeRun(Base):
    """The journal of one database upgrade: where it stands, what it did, what it found."""

    __tablename__ = "upgrade_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    target_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))
    target_name: Mapped[str] = mapped_column(String(200))
    target_server: Mapped[str | None] = mapped_column(String(200))
    target_plan: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(40))
    keep_days: Mapped[int] = mapped_column(Integer)
    deploys: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    options: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    stats: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    backup_path: Mapped[str | None] = mapped_column(String(1000))
    error: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    switched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    maintenance_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    maintenance_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    source: Mapped[Resource] = relationship(foreign_keys=[source_id])
    target: Mapped[Resource | None] = relationship(foreign_keys=[target_id])
    steps: Mapped[list[UpgradeStep]] = relationship(back_populates="run", order_by="UpgradeStep.position")


class UpgradeStep(Base):
    __tablename__ = "upgrade_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("upgrade_runs.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)

    run: Mapped[UpgradeRun] = relationship(back_populates="steps")


class UpgradeLock(Base):
    """One unfinished upgrade per resource, and a lease naming the process driving it.

    The row exists from the start of a run to its end (done or rolled back); its primary key makes two
    Changeover instances sharing an inventory unable to start two upgrades of one resource. The lease
    (owner, expires_at) is renewed while a process drives the run; another process may take over a run
    only once the lease has expired or its owner is gone.
    """

    __tablename__ = "upgrade_locks"

    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), primary_key=True, autoincrement=False)
    run_id: Mapped[int] = mapped_column(ForeignKey("upgrade_runs.id"))
    owner: Mapped[str] = mapped_column(String(300))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HealthCheck(Base):
    """One health check of a resource: when, the outcome (ok, failed, not_checkable), how long the server
    took, and its reason in plain words (redacted: never a secret)."""

    __tablename__ = "health_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), index=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(20))
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str] = mapped_column(Text, default="")

    resource: Mapped[Resource] = relationship()
