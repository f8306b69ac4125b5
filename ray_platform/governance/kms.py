"""Key management: master keys that wrap the data keys encrypting the lake (envelope encryption).

Data is never encrypted under a master key directly. Each table, bronze file or customer gets a
random 256-bit *data key*; only its *wrapped* form (the data key encrypted under a master key)
is stored, in the key registry of :mod:`ray_platform.governance.crypto`. The master key stays in
the key manager, so:

- rotating the master key re-wraps every data key (a few hundred bytes each) and rewrites no
  data;
- destroying one data key (crypto-shredding) makes everything encrypted under it unreadable for
  good, wherever copies of the ciphertext went.

Two implementations, chosen by ``settings.kms``:

- ``local`` (:class:`LocalKeyManager`): versioned master keys in ``<home>/keys/master/``
  (``v000001.key``..., 32 random bytes, mode 0600). Fine for one machine and for tests; the
  master key sits on the same disk as the data, so it protects copies of the lake, not the
  machine.
- ``aws`` (:class:`AwsKmsKeyManager`): AWS KMS ``GenerateDataKey``, ``Decrypt`` and
  ``ReEncrypt`` under ``settings.kms_key_id``; the master key never leaves KMS. The endpoint
  follows boto3's own configuration (``AWS_ENDPOINT_URL_KMS`` points it at a test server).

Example::

    km = key_manager(settings)
    km.initialise()
    plaintext, wrapped = km.generate_data_key()
    assert km.unwrap(wrapped) == plaintext
    km.rotate()
    wrapped = km.rewrap(wrapped)  # now under the new master version; the data is untouched
"""

from __future__ import annotations

import abc
import os
import re
import struct
from pathlib import Path
from typing import Any

from ray_platform.errors import ConfigError, EncryptionError, InvalidArgument
from ray_platform.settings import Settings, get_settings

DATA_KEY_BYTES = 32
"""AES-256."""
NONCE_BYTES = 12
"""The AES-GCM nonce size NIST recommends."""


class KeyManager(abc.ABC):
    """Wraps and unwraps data keys under a master key that it alone holds.

    ``destroys_versions`` says whether an old master version can be destroyed on its own
    (local keys: yes; AWS KMS keeps every version of a key's material for as long as the key).
    """

    kind: str
    destroys_versions: bool = False

    @abc.abstractmethod
    def initialised(self) -> bool:
        """Whether a master key exists (encryption at rest is on once it does)."""

    @abc.abstractmethod
    def initialise(self) -> str:
        """Create the first master key if there is none; returns the current version."""

    @abc.abstractmethod
    def current_version(self) -> str:
        """The master version new data keys are wrapped under."""

    @abc.abstractmethod
    def generate_data_key(self) -> tuple[bytes, bytes]:
        """A fresh data key: ``(plaintext, wrapped)``; store only the wrapped one."""

    @abc.abstractmethod
    def unwrap(self, wrapped: bytes) -> bytes:
        """The plaintext of a wrapped data key; :class:`EncryptionError` if it cannot be."""

    @abc.abstractmethod
    def rewrap(self, wrapped: bytes) -> bytes:
        """``wrapped`` re-wrapped under the current master version (same plaintext key)."""

    @abc.abstractmethod
    def rotate(self) -> str:
        """Make a new master version current; returns it. Old versions still unwrap."""

    def destroy_version(self, version: str) -> None:
        """Destroy an old master version (data keys still wrapped under it become unreadable)."""
        raise InvalidArgument(f"the {self.kind} key manager cannot destroy one master version")


class LocalKeyManager(KeyManager):
    """Master keys in files under ``<home>/keys/master/``, one per version."""

    kind = "local"
    destroys_versions = True
    _MAGIC = b"GBK1"
    _FILE = re.compile(r"^v(\d{6})\.key$")

    def __init__(self, home: Path) -> None:
        self.folder = Path(home) / "keys" / "master"

    def _versions(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        found = (self._FILE.match(p.name) for p in self.folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def _path(self, version: int) -> Path:
        return self.folder / f"v{version:06d}.key"

    def _master(self, version: int) -> bytes:
        try:
            return self._path(version).read_bytes()
        except FileNotFoundError:
            raise EncryptionError(
                f"master key version {version} is destroyed or missing in {self.folder}"
            ) from None

    def _create(self, version: int) -> None:
        self.folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder.mkdir(exist_ok=True, mode=0o700)
        try:
            fd = os.open(self._path(version), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process created this version first; use theirs
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(DATA_KEY_BYTES))

    def initialised(self) -> bool:
        return bool(self._versions())

    def initialise(self) -> str:
        if not self._versions():
            self._create(1)
        return self.current_version()

    def current_version(self) -> str:
        versions = self._versions()
        if not versions:
            raise EncryptionError(f"no master key in {self.folder}: run `gbank keys init`")
        return str(versions[-1])

    def _wrap(self, plaintext: bytes) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        version = int(self.current_version())
        header = self._MAGIC + struct.pack(">I", version)
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + AESGCM(self._master(version)).encrypt(nonce, plaintext, header)

    def generate_data_key(self) -> tuple[bytes, bytes]:
        plaintext = os.urandom(DATA_KEY_BYTES)
        return plaintext, self._wrap(plaintext)

    def unwrap(self, wrapped: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(wrapped) < 8 + NONCE_BYTES or not wrapped.startswith(self._MAGIC):
            raise EncryptionError("not a data key wrapped by the local key manager")
        header, nonce, body = wrapped[:8], wrapped[8 : 8 + NONCE_BYTES], wrapped[8 + NONCE_BYTES :]
        (version,) = struct.unpack(">I", header[4:])
        try:
            return AESGCM(self._master(version)).decrypt(nonce, body, header)
        except InvalidTag:
            raise EncryptionError("wrapped data key fails authentication (tampered?)") from None

    def rewrap(self, wrapped: bytes) -> bytes:
        return self._wrap(self.unwrap(wrapped))

    def version_of(self, wrapped: bytes) -> str:
        """The master version a wrapped key is under."""
        return str(struct.unpack(">I", wrapped[4:8])[0])

    def rotate(self) -> str:
        versions = self._versions()
        self._create((versions[-1] if versions else 0) + 1)
        return self.current_version()

    def destroy_version(self, version: str) -> None:
        if str(version) == self.current_version():
            raise InvalidArgument(f"master version {version} is current; rotate first")
        path = self._path(int(version))
        if path.exists():
            with path.open("r+b") as fh:  # overwrite before unlinking: no key left in the blocks
                fh.write(b"\0" * DATA_KEY_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
            path.unlink()


class AwsKmsKeyManager(KeyManager):
    """AWS KMS: data keys from ``GenerateDataKey``, unwrapped by ``Decrypt``.

    Rotation is KMS on-demand rotation of the key's material (``RotateKeyOnDemand``); KMS keeps
    the earlier material so old wrapped keys still decrypt, and ``ReEncrypt`` moves each data key
    under the newest material without the plaintext leaving KMS.
    """

    kind = "aws"

    def __init__(self, key_id: str | None, client: Any = None) -> None:
        if not key_id:
            raise ConfigError("GBANK_KMS=aws needs GBANK_KMS_KEY_ID (a KMS key id or ARN)")
        self.key_id = key_id
        self._client = client

    @property
    def client(self) -> Any:
        """The boto3 KMS client (created on first use)."""
        if self._client is None:
            import boto3

            self._client = boto3.client("kms")
        return self._client

    def _call(self, name: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, name)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise EncryptionError(f"AWS KMS {name} failed: {exc}") from None

    def initialised(self) -> bool:
        return True

    def initialise(self) -> str:
        return self.current_version()

    def current_version(self) -> str:
        """``<key id>#<rotations so far>``: KMS names no material version of its own."""
        rotations = self._call("list_key_rotations", KeyId=self.key_id).get("Rotations", [])
        return f"{self.key_id}#{len(rotations)}"

    def generate_data_key(self) -> tuple[bytes, bytes]:
        out = self._call("generate_data_key", KeyId=self.key_id, KeySpec="AES_256")
        return out["Plaintext"], out["CiphertextBlob"]

    def unwrap(self, wrapped: bytes) -> bytes:
        return self._call("decrypt", CiphertextBlob=wrapped, KeyId=self.key_id)["Plaintext"]

    def rewrap(self, wrapped: bytes) -> bytes:
        out = self._call(
            "re_encrypt",
            CiphertextBlob=wrapped,
            SourceKeyId=self.key_id,
            DestinationKeyId=self.key_id,
        )
        return out["CiphertextBlob"]

    def rotate(self) -> str:
        self._call("rotate_key_on_demand", KeyId=self.key_id)
        return self.current_version()


def key_manager(settings: Settings | None = None) -> KeyManager:
    """The configured key manager (``settings.kms``)."""
    s = settings or get_settings()
    if s.kms == "aws":
        return AwsKmsKeyManager(s.kms_key_id)
    return LocalKeyManager(s.home)
