"""``gbank auth``: users with password and TOTP, service tokens, the TLS certificate."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Users, TOTP, service tokens and TLS for the HTTP services.", no_args_is_help=True
)


@app.command("add-user")
def add_user(
    user: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", help="Role in the access policy."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="At least 12 characters (prompted).",
    ),
) -> None:
    """Create or reset a user; prints the TOTP secret to enrol in an authenticator app."""
    from ray_platform.governance import auth

    secret = auth.add_user(user, password, role)
    typer.echo(f"TOTP secret: {secret}")
    typer.echo(f"enrol: {auth.provisioning_uri(user, secret)}")


@app.command("login")
def login(
    user: str = typer.Argument(..., help="Login name."),
    password: str = typer.Option(..., prompt=True, hide_input=True, help="Password (prompted)."),
    code: str = typer.Option(..., "--code", prompt="TOTP code", help="Current TOTP code."),
) -> None:
    """Check password and TOTP code; prints a single-use login token (5 minutes)."""
    from ray_platform.governance import auth

    typer.echo(auth.login(user, password, code))


@app.command("issue-token")
def issue_token(
    service: str = typer.Argument(..., help="The service the token identifies."),
    ttl: int = typer.Option(3600, "--ttl", min=1, help="Lifetime in seconds."),
    role: str = typer.Option(None, "--role", help="Role the service acts as."),
    once: bool = typer.Option(False, "--once", help="Single use."),
) -> None:
    """Issue a signed service token."""
    from ray_platform.governance import auth

    typer.echo(auth.issue_token(service, kind="service", role=role, ttl_s=ttl, once=once))


@app.command("verify-token")
def verify_token(token: str = typer.Argument(..., help="A token.")) -> None:
    """Check a token (a single-use token is spent by this); prints whom it speaks for."""
    from ray_platform.governance import auth

    p = auth.verify_token(token)
    typer.echo(f"{p.kind} {p.subject} role={p.role} jti={p.jti}")


@app.command("tls-cert")
def tls_cert() -> None:
    """The certificate and key the HTTP services use (generates the dev certificate)."""
    from ray_platform.governance import auth

    cert, key = auth.tls_files()
    typer.echo(f"certificate: {cert}\nkey: {key}")
