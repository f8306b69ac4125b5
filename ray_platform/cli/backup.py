"""``gbank backup`` and ``gbank restore``: the platform's state to a folder and back.

Two top-level commands (``backup_cmd``, ``restore_cmd``), registered by the main app; ``app``
holds both for tests and for anyone who wants them as a group.
"""

from __future__ import annotations

import typer

from ray_platform.errors import InvalidArgument

app = typer.Typer(help="Back up and restore lake tables, MLflow, Feast and key registry.")


def _versions(pairs: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in pairs:
        table, sep, version = pair.rpartition("=")
        if not sep or not table or not version.isdigit():
            raise InvalidArgument(f"--version takes TABLE=VERSION, not {pair!r}")
        out[table] = int(version)
    return out


@app.command("backup")
def backup_cmd(
    dest: str = typer.Option(..., "--dest", help="Empty or new folder to write the backup to."),
    table: list[str] = typer.Option(  # noqa: B008 (typer's way to declare a repeatable option)
        [], "--table", help="Back up only this Delta table (repeatable; default every table)."
    ),
    version: list[str] = typer.Option(  # noqa: B008 (a repeatable option)
        [], "--version", help="TABLE=VERSION: back the table up as of that version (repeatable)."
    ),
    include_keys: bool = typer.Option(
        False, "--include-keys", help="Also copy the local master keys (the backup then decrypts)."
    ),
) -> None:
    """Back up lake tables by version, bronze files, MLflow, Feast registry, wrapped data keys."""
    from ray_platform.governance.audit import audit_trail
    from ray_platform.ops.backup import backup
    from ray_platform.settings import get_settings

    s = get_settings()
    done = backup(dest, s, table or None, _versions(version), include_keys=include_keys)
    audit_trail(s).append("backup", actor=s.user, role=s.role, action="backup",
                          dest=str(done.dest), tables=done.tables, files=done.files,
                          master_keys=done.master_keys)  # fmt: skip
    for name, v in done.tables.items():
        typer.echo(f"{name} v{v}")
    keys = "with master keys" if done.master_keys else "without master keys"
    typer.echo(f"backed up {len(done.tables)} tables, {done.files} files, {done.bytes} bytes "
               f"({keys}) to {done.dest}")  # fmt: skip


@app.command("restore")
def restore_cmd(
    src: str = typer.Option(..., "--from", help="The backup folder (verified before anything)."),
    home: str = typer.Option(..., "--home", help="Platform home to restore into (empty)."),
    force: bool = typer.Option(False, "--force", help="Restore into a non-empty home."),
) -> None:
    """Verify a backup, restore it as a platform home, then verify the restored home."""
    from ray_platform.governance.audit import audit_trail
    from ray_platform.ops.backup import restore
    from ray_platform.settings import get_settings

    done = restore(src, home, force=force)
    s = get_settings()
    audit_trail(s).append("backup", actor=s.user, role=s.role, action="restore",
                          source=str(src), home=str(done.home), tables=done.tables,
                          files=done.files)  # fmt: skip
    typer.echo(f"restored and verified {len(done.tables)} tables, {done.files} files, "
               f"{done.mlflow_runs} MLflow runs, {len(done.feature_views)} feature views "
               f"into {done.home}; use it with GBANK_HOME={done.home}")  # fmt: skip
