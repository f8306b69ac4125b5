"""One error hierarchy for the platform.

Every error the platform raises on purpose derives from :class:`PlatformError`. Each subclass
also inherits the builtin it resembles, so callers that only know Python's exceptions still
catch it, and carries the HTTP status a service should answer with, so services and the CLI
convert errors in one place.
"""

from __future__ import annotations


class PlatformError(Exception):
    """Root of every deliberate platform error."""

    http_status: int = 500
    exit_code: int = 1


class ConfigError(PlatformError, ValueError):
    """Settings or a configuration file are invalid."""

    http_status = 500
    exit_code = 2


class InvalidArgument(PlatformError, ValueError):
    """A caller passed a value the platform cannot accept."""

    http_status = 400
    exit_code = 2


class NotFound(PlatformError, KeyError):
    """A named thing (table, dataset, model, file) does not exist."""

    http_status = 404

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message.
        return str(self.args[0]) if self.args else ""


class ServiceError(PlatformError, RuntimeError):
    """A local service (Kafka, Ray, Redis, MLflow, S3 server) could not start or be reached."""

    http_status = 503


class DataQualityError(PlatformError, ValueError):
    """Data failed a check that must hold (for example a reconciliation that does not balance)."""

    http_status = 422


class SchemaError(DataQualityError):
    """A feed's schema changed in a way its contract refuses."""


class AuthenticationFailed(PlatformError, PermissionError):
    """A caller could not prove who it is (wrong password or TOTP, expired or replayed token)."""

    http_status = 401
    exit_code = 3


class AccessDenied(PlatformError, PermissionError):
    """A principal may not read what it asked for; the message names the policy rule."""

    http_status = 403
    exit_code = 3


class TamperDetected(PlatformError, RuntimeError):
    """A hash-chained record (the audit trail) was edited, removed or reordered."""

    http_status = 500
    exit_code = 4


class EncryptionError(PlatformError, RuntimeError):
    """A key is missing or destroyed, or ciphertext fails authentication."""

    http_status = 500


class RateLimited(PlatformError, RuntimeError):
    """A caller sent more requests than its per-user rate limit allows."""

    http_status = 429


class QueryTimeout(PlatformError, TimeoutError):
    """A query ran past its time limit and was interrupted."""

    http_status = 504


class ResidencyViolation(PlatformError, PermissionError):
    """An operation would put personal data outside its owner's home region."""

    http_status = 403
    exit_code = 3


class SchemaIncompatible(SchemaError):
    """The schema registry refused a producer's schema under the subject's compatibility rule."""

    http_status = 409


class UndecodableMessage(DataQualityError):
    """A Kafka message does not decode with the schema its header names: dead-letter it."""


class UnknownSchemaId(UndecodableMessage, LookupError):
    """A message names a schema id the registry still does not know after retries."""
