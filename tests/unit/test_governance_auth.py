"""TLS dev certificate, passwords with TOTP (RFC 6238), tokens, and the audit of refusals."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
import time
import urllib.error
import urllib.request

import pytest
from typer.testing import CliRunner

from ray_platform.cli.auth import app as auth_cli
from ray_platform.errors import AuthenticationFailed, ConfigError
from ray_platform.governance import auth
from ray_platform.governance.audit import audit_trail
from ray_platform.settings import get_settings, load_settings

pytestmark = pytest.mark.unit

SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
# RFC 6238 appendix B: (time, sha1, sha256, sha512), 8 digits, 30 s steps.
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
PASSWORD = "correct horse battery"
T0 = 1_800_000_000.0  # a fixed "now" for logins and tokens


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), RFC6238)
def test_totp_matches_the_rfc_6238_vectors(at, sha1, sha256, sha512):
    for algorithm, want in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert auth.totp(SEEDS[algorithm], at, digits=8, algorithm=algorithm) == want


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path)


@pytest.fixture
def secret(settings):
    return auth.add_user("alice", PASSWORD, "risk_analyst", settings)


def _code(secret: str, at: float) -> str:
    return auth.totp(auth._secret_bytes(secret), at)


def _denials(settings) -> list:
    return audit_trail(settings).query(event="auth", outcome="denied")


def test_login_with_password_and_totp_gives_a_token_for_the_user(settings, secret):
    token = auth.login("alice", PASSWORD, _code(secret, T0), settings, now=T0)
    p = auth.verify_token(token, settings, now=T0 + 1)
    assert (p.subject, p.kind, p.role) == ("alice", "user", "risk_analyst")
    assert p.expires_at == int(T0) + auth.LOGIN_TOKEN_TTL_S
    ok = audit_trail(settings).query(event="auth", outcome="ok")
    assert [r.actor for r in ok] == ["alice"]
    # A code from the previous 30 s step is still accepted (clock drift), two steps back not.
    secret2 = auth.add_user("bob", PASSWORD, "analyst", settings)
    auth.login("bob", PASSWORD, _code(secret2, T0 - 30), settings, now=T0)
    with pytest.raises(AuthenticationFailed):
        auth.login("bob", PASSWORD, _code(secret2, T0 - 90), settings, now=T0 + 30)


def test_wrong_totp_code_is_refused_and_audited(settings, secret):
    good = _code(secret, T0)
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    with pytest.raises(AuthenticationFailed, match="wrong TOTP code"):
        auth.login("alice", PASSWORD, wrong, settings, now=T0)
    [rec] = _denials(settings)
    assert rec.actor == "alice" and rec.details["reason"] == "wrong TOTP code"
    assert rec.details["method"] == "totp"
    assert audit_trail(settings).verify().ok


def test_wrong_password_or_unknown_user_is_refused_and_audited(settings, secret):
    code = _code(secret, T0)
    with pytest.raises(AuthenticationFailed, match="wrong user or password"):
        auth.login("alice", "not the password", code, settings, now=T0)
    with pytest.raises(AuthenticationFailed, match="wrong user or password"):
        auth.login("mallory", PASSWORD, code, settings, now=T0)
    assert [(r.actor, r.details["method"]) for r in _denials(settings)] == [
        ("alice", "password"),
        ("mallory", "password"),
    ]


def test_a_totp_code_is_accepted_once(settings, secret):
    code = _code(secret, T0)
    auth.login("alice", PASSWORD, code, settings, now=T0)
    with pytest.raises(AuthenticationFailed, match="TOTP code already used"):
        auth.login("alice", PASSWORD, code, settings, now=T0 + 5)
    assert _denials(settings)[-1].details["reason"] == "TOTP code already used"


def test_repeated_failures_lock_the_account_for_a_while(settings, secret):
    for _ in range(auth.MAX_FAILURES):
        with pytest.raises(AuthenticationFailed, match="wrong TOTP code"):
            auth.login(
                "alice",
                PASSWORD,
                "000000" if _code(secret, T0) != "000000" else "111111",
                settings,
                now=T0,
            )
    # Now even the right code is refused until the lockout ends.
    with pytest.raises(AuthenticationFailed, match="account locked"):
        auth.login("alice", PASSWORD, _code(secret, T0 + 30), settings, now=T0 + 30)
    assert _denials(settings)[-1].details["reason"] == "account locked after repeated failures"
    later = T0 + auth.LOCKOUT_S + 1
    auth.login("alice", PASSWORD, _code(secret, later), settings, now=later)


def test_expired_token_is_refused_and_audited(settings):
    token = auth.issue_token("fraud-consumer", ttl_s=60, settings=settings, now=T0)
    assert auth.verify_token(token, settings, now=T0 + 59).subject == "fraud-consumer"
    with pytest.raises(AuthenticationFailed, match="token expired"):
        auth.verify_token(token, settings, now=T0 + 60)
    [rec] = _denials(settings)
    assert rec.actor == "fraud-consumer" and rec.details["reason"] == "token expired"


def test_replayed_token_is_refused_and_audited(settings, secret):
    login_token = auth.login("alice", PASSWORD, _code(secret, T0), settings, now=T0)
    auth.verify_token(login_token, settings, now=T0 + 1)
    with pytest.raises(AuthenticationFailed, match="token replayed"):
        auth.verify_token(login_token, settings, now=T0 + 2)
    once = auth.issue_token("batch-export", once=True, settings=settings, now=T0)
    auth.verify_token(once, settings, now=T0 + 1)
    with pytest.raises(AuthenticationFailed, match="token replayed"):
        auth.verify_token(once, settings, now=T0 + 1)
    # A plain service token is a bearer token: valid on every call until it expires.
    service = auth.issue_token("fraud-consumer", settings=settings, now=T0)
    for i in range(3):
        assert auth.verify_token(service, settings, now=T0 + i).kind == "service"
    replays = [r for r in _denials(settings) if r.details["reason"] == "token replayed"]
    assert [r.actor for r in replays] == ["alice", "batch-export"]


def test_forged_or_tampered_token_is_refused(settings, tmp_path):
    token = auth.issue_token("svc", role="reader", settings=settings, now=T0)
    body, sig = token.split(".")
    forged = auth._b64(auth._unb64(body).replace(b'"reader"', b'"admin"'))
    with pytest.raises(AuthenticationFailed, match="signature"):
        auth.verify_token(f"{forged}.{sig}", settings, now=T0)
    other = load_settings(home=tmp_path / "other")  # another deployment's key
    with pytest.raises(AuthenticationFailed, match="signature"):
        auth.verify_token(token, other, now=T0)
    assert _denials(settings)[-1].details["reason"] == "token signature invalid"


def test_passwords_are_salted_scrypt_and_the_users_file_is_private(settings, secret):
    a, b = auth.hash_password(PASSWORD), auth.hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$") and auth.check_password(PASSWORD, a)
    assert not auth.check_password(PASSWORD + "x", a) and not auth.check_password(PASSWORD, "x")
    users = settings.home / "auth" / "users.json"
    assert PASSWORD not in users.read_text()
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert auth.provisioning_uri("alice", secret).startswith("otpauth://totp/GlobalBank:alice?")


def test_dev_certificate_is_generated_once_and_reused(settings):
    from cryptography import x509

    cert, key = auth.tls_files(settings)
    assert cert == settings.home / "tls" / "dev-cert.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = (cert.read_bytes(), key.read_bytes(), cert.stat().st_mtime_ns)
    assert auth.tls_files(settings) == (cert, key)
    assert (cert.read_bytes(), key.read_bytes(), cert.stat().st_mtime_ns) == first
    parsed = x509.load_pem_x509_certificate(first[0])
    sans = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_configured_certificate_overrides_the_dev_one(settings, tmp_path):
    cert, key = auth.tls_files(settings)
    real = load_settings(home=tmp_path / "prod", tls_cert_file=cert, tls_key_file=key)
    assert auth.tls_files(real) == (cert, key)
    assert not (tmp_path / "prod" / "tls").exists()
    with pytest.raises(ConfigError, match="both"):
        auth.tls_files(load_settings(home=tmp_path / "x", tls_cert_file=cert))
    with pytest.raises(ConfigError, match="does not exist"):
        auth.tls_files(
            load_settings(
                home=tmp_path / "x", tls_cert_file=cert, tls_key_file=tmp_path / "missing.pem"
            )
        )


def test_https_request_to_a_uvicorn_app_with_the_dev_certificate(settings):
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="error", lifespan="off", **auth.uvicorn_ssl_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        url = f"https://127.0.0.1:{port}/ping"
        with urllib.request.urlopen(url, context=auth.client_context(settings), timeout=5) as r:
            assert r.status == 200 and r.read() == b'{"pong":"yes"}'
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=5)
        assert auth.ssl_context(settings).minimum_version == ssl.TLSVersion.TLSv1_2
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def test_ray_serve_accepts_the_tls_options_for_its_python_proxy(settings):
    from ray.serve.config import HTTPOptions

    opts = HTTPOptions(host="127.0.0.1", port=8443, **auth.serve_http_options(settings))
    assert opts.ssl_certfile == str(settings.home / "tls" / "dev-cert.pem")
    assert opts.ssl_keyfile == str(settings.home / "tls" / "dev-key.pem")


def test_cli_issue_and_verify_a_single_use_token(settings, monkeypatch):
    monkeypatch.setenv("GBANK_HOME", str(settings.home))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(auth_cli, ["issue-token", "reports", "--once", "--ttl", "60"])
        assert out.exit_code == 0, out.output
        token = out.output.strip()
        out = runner.invoke(auth_cli, ["verify-token", token])
        assert out.exit_code == 0 and out.output.startswith("service reports")
        out = runner.invoke(auth_cli, ["verify-token", token])
        assert isinstance(out.exception, AuthenticationFailed)
    finally:
        get_settings.cache_clear()
