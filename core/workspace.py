"""The faces' handle on Changeover: one :class:`Workspace` over an inventory, every use case a method.

The methods are the use-case functions of the concept modules, bound to this context: the CLI and the
window call ``workspace.attach(...)`` and reach exactly what :func:`changeover.core.attachments.attach`
does. Nothing here is logic of its own; look up a use case in the module that owns its concept.
"""

from __future__ import annotations

from . import (
    attachments,
    audit,
    backups,
    deploys,
    history,
    offsite,
    resources,
    rotation,
    servers,
    swaps,
    teamsecrets,
    uses,
)
from .context import Context
from .upgrade import record


class Workspace(Context):
    """Every use case over one inventory. Thread-safe: every call opens and closes its own session."""

    # deploys
    add_deploy = deploys.add_deploy
    edit_deploy = deploys.edit_deploy
    remove_deploy = deploys.remove_deploy
    list_deploys = deploys.list_deploys
    show_deploy = deploys.show_deploy
    deploy_config = deploys.deploy_config
    restart = deploys.restart
    set_maintenance = deploys.set_maintenance
    import_deploy = deploys.import_deploy
    overview = deploys.overview
    # resources
    register_resource = resources.register_resource
    set_resource_secret = resources.set_resource_secret
    list_resources = resources.list_resources
    show_resource = resources.show_resource
    set_keep_until = resources.set_keep_until
    deprovision_refusal = resources.deprovision_refusal
    reveal_secret = resources.reveal_secret
    # attachments
    attach = attachments.attach
    detach = attachments.detach
    recover = attachments.recover
    swap = swaps.swap
    # who uses what
    uses = uses.uses
    # servers and what is provisioned on them
    register_server = servers.register_server
    list_servers = servers.list_servers
    show_server = servers.show_server
    remove_server = servers.remove_server
    provision = servers.provision
    deprovision = servers.deprovision
    # rotation
    rotate = rotation.rotate
    # backups, loads, copies
    describe_resource = backups.describe_resource
    backup_resource = backups.backup_resource
    list_backups = backups.backup_records
    test_restore_backup = backups.test_restore_backup
    restore_backup = backups.restore_backup
    delete_backup = backups.delete_backup
    prune_backups = backups.prune_backups
    load_into_resource = backups.load_into_resource
    plan_copy = backups.plan_copy
    copy_resources = backups.copy_resources
    verify_resources = backups.verify_resources
    # backups kept in an S3 bucket too
    use_backup_bucket = offsite.use_bucket
    push_backup = offsite.push
    list_offsite_backups = offsite.list_offsite
    fetch_backup = offsite.fetch
    # where secrets are kept: the OS keyring or the team's AWS Secrets Manager
    secret_store_info = teamsecrets.secret_store_info
    use_secret_store = teamsecrets.use_secret_store
    # the audit trail
    events = audit.events
    export_events = audit.export_events
    # the change record of an upgrade run
    change_record = record.change_record
    change_record_text = record.change_record_text
    # one object's whole story, for a detail view (read-only)
    resource_detail = history.resource_detail
    deploy_detail = history.deploy_detail
