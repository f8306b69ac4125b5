"""Authentication for the HTTP services: TLS, passwords with TOTP for people, tokens.

**TLS.** :func:`tls_files` gives the certificate and key the services serve with: the ones
named by ``GBANK_TLS_CERT_FILE``/``GBANK_TLS_KEY_FILE`` when set, else a self-signed development
certificate for ``localhost``/``127.0.0.1`` generated on first use under ``<home>/tls/`` (key
mode 0600) and reused until it nears expiry. :func:`ssl_context` is the server context for
uvicorn-served apps; :func:`client_context` trusts the dev certificate for local clients.

The fraud service runs on Ray Serve. Serve's Python proxy takes a certificate
(``http_options`` ``ssl_certfile``/``ssl_keyfile``: :func:`serve_http_options`), but the
platform's ingress is Serve's HAProxy mode (``serve/ingress.py``), and Ray 2.60's HAProxy
configuration binds its frontend without ``ssl crt`` and reaches replicas without ``ssl``
(``ray/serve/_private/haproxy_templates.py``), while direct-ingress replicas would apply the same
``http_options`` certificate to their own servers. So with HAProxy there is no TLS, and setting
a certificate would make the replicas speak TLS to a proxy that speaks plain HTTP: TLS for the
fraud service means the Python proxy (``gbank serve up --no-haproxy``) with
:func:`serve_http_options`, or TLS terminated in front of HAProxy.

**People** (the query API) log in with a password and a TOTP code (RFC 6238, HMAC-SHA1, 6
digits, 30 s steps, one step of clock drift). Passwords are hashed with scrypt; the users file
is ``<home>/auth/users.json`` (0600). A code is accepted once: a step at or before the last one
used is a replay. Five failed attempts in a row lock the account for 15 minutes. A successful
login returns a *login token* that is redeemed once.

**Services** authenticate with tokens: ``<payload>.<signature>``, both base64url, the payload a
JSON object (``sub``, ``kind``, ``role``, ``iat``, ``exp``, a unique ``jti``, ``once``),
signed with HMAC-SHA256 under a key in ``<home>/auth/token.key`` (0600). Service tokens are
bearer tokens valid until they expire; login tokens and tokens issued ``once=True`` are
single-use: their ``jti`` is recorded on first use (``<home>/auth/used_jti.json``, kept until
the token would have expired) and refused after.

Every refusal (unknown user, wrong password, wrong or replayed TOTP code, bad signature,
expired or replayed token) raises :class:`AuthenticationFailed` and is appended to the audit
trail as event ``auth`` with outcome ``denied`` and the reason; successful logins are audited
too.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import ssl
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from ray_platform.errors import AuthenticationFailed, ConfigError, InvalidArgument, NotFound
from ray_platform.settings import Settings, get_settings

TOTP_STEP_S = 30
TOTP_DIGITS = 6
TOTP_DRIFT_STEPS = 1
LOGIN_TOKEN_TTL_S = 300
MAX_FAILURES = 5
LOCKOUT_S = 900
DEV_CERT_DAYS = 365
_RENEW_BEFORE = dt.timedelta(days=7)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


# -- files -------------------------------------------------------------------------------------


def _private_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside ``path``, for read-modify-write across processes."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _auth_dir(s: Settings) -> Path:
    return s.home / "auth"


# -- TLS ---------------------------------------------------------------------------------------


def tls_files(settings: Settings | None = None) -> tuple[Path, Path]:
    """``(certificate, key)`` PEM files to serve with (configured, or the dev certificate)."""
    s = settings or get_settings()
    if s.tls_cert_file or s.tls_key_file:
        if not (s.tls_cert_file and s.tls_key_file):
            raise ConfigError("set both GBANK_TLS_CERT_FILE and GBANK_TLS_KEY_FILE, or neither")
        for p in (s.tls_cert_file, s.tls_key_file):
            if not Path(p).is_file():
                raise ConfigError(f"TLS file {p} does not exist")
        return Path(s.tls_cert_file), Path(s.tls_key_file)
    return dev_certificate(s)


def dev_certificate(settings: Settings | None = None) -> tuple[Path, Path]:
    """The self-signed dev certificate under ``<home>/tls/``, made when missing or near expiry.

    Never regenerated otherwise, so clients that trust it keep working.
    """
    from cryptography import x509

    s = settings or get_settings()
    cert, key = s.home / "tls" / "dev-cert.pem", s.home / "tls" / "dev-key.pem"
    with _locked(cert):
        if cert.is_file() and key.is_file():
            current = x509.load_pem_x509_certificate(cert.read_bytes())
            if current.not_valid_after_utc - _RENEW_BEFORE > dt.datetime.now(dt.UTC):
                return cert, key
        cert_pem, key_pem = _self_signed()
        _private_write(key, key_pem)
        _private_write(cert, cert_pem)
        cert.chmod(0o644)
    return cert, key


def _self_signed() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gbank dev (localhost)")])
    now = dt.datetime.now(dt.UTC)
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=DEV_CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        # A CA certificate for itself, so clients can trust it as their CA file.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ssl_context(settings: Settings | None = None) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later) with the certificate and key."""
    cert, key = tls_files(settings)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        raise ConfigError(f"TLS certificate {cert} and key {key} do not load: {exc}") from None
    return ctx


def uvicorn_ssl_options(settings: Settings | None = None) -> dict[str, str]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` to serve HTTPS."""
    cert, key = tls_files(settings)
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def serve_http_options(settings: Settings | None = None) -> dict[str, str]:
    """Ray Serve ``http_options`` entries for HTTPS (Python proxy only; see the module doc)."""
    return uvicorn_ssl_options(settings)


def client_context(settings: Settings | None = None) -> ssl.SSLContext:
    """A client context that trusts the certificate the services use (the dev one included)."""
    cert, _ = tls_files(settings)
    return ssl.create_default_context(cafile=str(cert))


# -- TOTP (RFC 6238) ---------------------------------------------------------------------------


def hotp(key: bytes, counter: int, digits: int = TOTP_DIGITS, algorithm: str = "sha1") -> str:
    """RFC 4226 HOTP value of ``counter`` (dynamic truncation of an HMAC)."""
    mac = hmac.new(key, struct.pack(">Q", counter), _HASHES[algorithm]).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def totp(
    key: bytes,
    at: float,
    digits: int = TOTP_DIGITS,
    algorithm: str = "sha1",
    step: int = TOTP_STEP_S,
) -> str:
    """RFC 6238 TOTP value at Unix time ``at``."""
    return hotp(key, int(at // step), digits, algorithm)


def new_totp_secret() -> str:
    """A fresh 160-bit TOTP secret, base32 as authenticator apps take it."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _secret_bytes(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)


def provisioning_uri(user: str, secret: str, issuer: str = "GlobalBank") -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return (
        f"otpauth://totp/{quote(issuer)}:{quote(user)}?secret={secret}"
        f"&issuer={quote(issuer)}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_S}"
    )


def _matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step within the drift window whose code is ``code``, or None."""
    key = _secret_bytes(secret)
    now_step = int(at // TOTP_STEP_S)
    found = None
    for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(hotp(key, step), code):
            found = step  # no early exit: the same work whichever step matches
    return found


# -- passwords and users -----------------------------------------------------------------------


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64) of ``password`` with a fresh salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` string (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except ValueError:
        return False
    return kind == "scrypt" and hmac.compare_digest(got, want)


def _users_file(s: Settings) -> Path:
    return _auth_dir(s) / "users.json"


def _read_users(s: Settings) -> dict[str, dict[str, Any]]:
    path = _users_file(s)
    return json.loads(path.read_text()) if path.is_file() else {}


def add_user(user: str, password: str, role: str, settings: Settings | None = None) -> str:
    """Create (or reset) a human user; returns the new TOTP secret to enrol in an app."""
    s = settings or get_settings()
    if not user or not role:
        raise InvalidArgument("a user needs a name and a role")
    if len(password) < 12:
        raise InvalidArgument("passwords need at least 12 characters")
    secret = new_totp_secret()
    with _locked(_users_file(s)):
        users = _read_users(s)
        users[user] = {
            "password": hash_password(password),
            "totp_secret": secret,
            "role": role,
            "last_totp_step": -1,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        _private_write(_users_file(s), json.dumps(users, indent=1).encode())
    return secret


def remove_user(user: str, settings: Settings | None = None) -> None:
    """Delete a human user (their unexpired login tokens stop being redeemable too)."""
    s = settings or get_settings()
    with _locked(_users_file(s)):
        users = _read_users(s)
        if users.pop(user, None) is None:
            raise NotFound(f"no user {user!r}")
        _private_write(_users_file(s), json.dumps(users, indent=1).encode())


def login(
    user: str,
    password: str,
    code: str,
    settings: Settings | None = None,
    *,
    now: float | None = None,
) -> str:
    """Check password and TOTP code; returns a single-use login token (5 minutes).

    After :data:`MAX_FAILURES` failed attempts in a row the account is locked for
    :data:`LOCKOUT_S` seconds (a 6-digit code must not be guessable by trying them all).
    """
    s = settings or get_settings()
    at = time.time() if now is None else now
    with _locked(_users_file(s)):
        users = _read_users(s)
        record = users.get(user)
        if record is not None and record.get("locked_until", 0) > at:
            _deny(s, user, "account locked after repeated failures", method="login")
        # Hash even for an unknown user, so timing does not tell which users exist.
        ok = check_password(password, record["password"] if record else _DUMMY_HASH)
        reason, method = None, "password"
        step = None
        if record is None or not ok:
            reason = "wrong user or password"
        else:
            method = "totp"
            step = _matching_step(record["totp_secret"], code.strip(), at)
            if step is None:
                reason = "wrong TOTP code"
            elif step <= record.get("last_totp_step", -1):
                reason = "TOTP code already used"
        if record is not None:
            if reason is None:
                record.update(last_totp_step=step, failures=0, locked_until=0)
            else:
                record["failures"] = record.get("failures", 0) + 1
                if record["failures"] >= MAX_FAILURES:
                    record.update(failures=0, locked_until=at + LOCKOUT_S)
            _private_write(_users_file(s), json.dumps(users, indent=1).encode())
        if reason is not None:
            _deny(s, user, reason, method=method)
    assert record is not None
    token = issue_token(
        user,
        kind="user",
        role=record["role"],
        ttl_s=LOGIN_TOKEN_TTL_S,
        once=True,
        settings=s,
        now=at,
    )
    _audit(s, user, record["role"], "ok", method="login")
    return token


_DUMMY_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)


# -- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    subject: str
    kind: str  # user or service
    role: str | None
    jti: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signing_key(s: Settings) -> bytes:
    path = _auth_dir(s) / "token.key"
    with _locked(path):
        if not path.is_file():
            _private_write(path, secrets.token_bytes(32))
        return path.read_bytes()


def issue_token(
    subject: str,
    *,
    kind: str = "service",
    role: str | None = None,
    ttl_s: int = 3600,
    once: bool = False,
    settings: Settings | None = None,
    now: float | None = None,
) -> str:
    """A signed token for ``subject`` valid ``ttl_s`` seconds (single-use when ``once``)."""
    if kind not in ("user", "service"):
        raise InvalidArgument(f"token kind must be user or service, not {kind!r}")
    if ttl_s <= 0:
        raise InvalidArgument("a token's lifetime must be positive")
    s = settings or get_settings()
    iat = int(time.time() if now is None else now)
    payload = {
        "sub": subject,
        "kind": kind,
        "role": role,
        "iat": iat,
        "exp": iat + ttl_s,
        "jti": uuid.uuid4().hex,
        "once": once,
    }
    body = _b64(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    sig = _b64(hmac.new(_signing_key(s), body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def verify_token(
    token: str, settings: Settings | None = None, *, now: float | None = None
) -> Principal:
    """The principal of a valid token; refuses bad signatures, expired and replayed tokens."""
    s = settings or get_settings()
    at = time.time() if now is None else now
    body, _, sig = token.strip().partition(".")
    want = _b64(hmac.new(_signing_key(s), body.encode(), hashlib.sha256).digest())
    if not sig or not hmac.compare_digest(sig, want):
        _deny(s, "unknown", "token signature invalid", method="token")
    try:
        claims = json.loads(_unb64(body))
        principal = Principal(
            claims["sub"], claims["kind"], claims.get("role"), claims["jti"], float(claims["exp"])
        )
        single = bool(claims.get("once")) or claims["kind"] == "user"
    except (ValueError, KeyError, TypeError):
        _deny(s, "unknown", "token payload unreadable", method="token")
    if at >= principal.expires_at:
        _deny(
            s,
            principal.subject,
            "token expired",
            method="token",
            jti=principal.jti,
            expired_at=principal.expires_at,
        )
    if single and not _first_use(s, principal.jti, principal.expires_at, at):
        _deny(s, principal.subject, "token replayed", method="token", jti=principal.jti)
    return principal


def _first_use(s: Settings, jti: str, expires_at: float, at: float) -> bool:
    """Record ``jti`` as used; False when it already was. Expired entries are dropped."""
    path = _auth_dir(s) / "used_jti.json"
    with _locked(path):
        used: dict[str, float] = json.loads(path.read_text()) if path.is_file() else {}
        if jti in used:
            return False
        used = {k: v for k, v in used.items() if v > at}
        used[jti] = expires_at
        _private_write(path, json.dumps(used).encode())
    return True


# -- audit -------------------------------------------------------------------------------------


def _deny(s: Settings, actor: str, reason: str, **details: Any) -> NoReturn:
    """Audit a refusal, then raise :class:`AuthenticationFailed` with ``reason``."""
    _audit(s, actor or "unknown", None, "denied", reason=reason, **details)
    raise AuthenticationFailed(f"authentication failed: {reason}")


def _audit(s: Settings, actor: str, role: str | None, outcome: str, **details: Any) -> None:
    from ray_platform.governance.audit import audit_trail

    audit_trail(s).append("auth", actor=actor, role=role, outcome=outcome, **details)  # type: ignore[arg-type]
