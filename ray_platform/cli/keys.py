"""``gbank keys init|rotate|status``: the master key that wraps the lake's data keys."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Encryption at rest: create or rotate the master key (settings.kms).",
    no_args_is_help=True,
)


@app.command("init")
def init() -> None:
    """Create the first master key; from then on writers encrypt (see docs/governance.md)."""
    from ray_platform.governance.audit import audit_trail
    from ray_platform.governance.kms import key_manager
    from ray_platform.settings import get_settings

    s = get_settings()
    km = key_manager(s)
    fresh = not km.initialised()
    version = km.initialise()
    if fresh:
        audit_trail(s).append("key_management", actor=s.user, role=s.role, action="init",
                              kms=km.kind, version=version)  # fmt: skip
    typer.echo(f"{km.kind} master key version {version}" + ("" if fresh else " (already there)"))


@app.command("rotate")
def rotate(
    destroy_old: bool = typer.Option(
        False, "--destroy-old", help="Then destroy the earlier master versions (local keys)."
    ),
) -> None:
    """Make a new master version and re-wrap every data key under it (no data is rewritten)."""
    from ray_platform.governance.audit import audit_trail
    from ray_platform.governance.crypto import KeyRing
    from ray_platform.settings import get_settings

    s = get_settings()
    done = KeyRing(s).rotate(destroy_old=destroy_old)
    audit_trail(s).append("key_management", actor=s.user, role=s.role, action="rotate",
                          version=done.version, rewrapped=done.rewrapped,
                          destroyed_versions=list(done.destroyed_versions))  # fmt: skip
    gone = f", destroyed versions {', '.join(done.destroyed_versions)}" if destroy_old else ""
    typer.echo(f"master key version {done.version}: {done.rewrapped} data keys re-wrapped{gone}")


@app.command("status")
def status() -> None:
    """Say whether encryption is on, the master version and how many data keys exist."""
    from ray_platform.governance.crypto import KeyRing
    from ray_platform.governance.kms import key_manager
    from ray_platform.settings import get_settings

    s = get_settings()
    km = key_manager(s)
    if not km.initialised():
        typer.echo(f"encryption at rest: off ({km.kind} key manager has no master key)")
        return
    typer.echo(f"encryption at rest: on ({km.kind}, master version {km.current_version()}, "
               f"{KeyRing(s).count()} data keys)")  # fmt: skip
