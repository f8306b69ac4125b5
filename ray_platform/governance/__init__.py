"""Governance and security: catalog, access control, audit, encryption, GDPR, retention, DQ.

Every read path of the platform (the Python API, ``gbank sql`` and the other read commands, the
HTTP APIs) goes through :mod:`ray_platform.governance.access` with a principal, and every access,
job run, model promotion and erasure is appended to the hash-chained audit trail
(:mod:`ray_platform.governance.audit`). The modules are imported directly, not re-exported
here, because several pull in heavy dependencies (DuckDB, cryptography, Kafka) that a caller
of one of them should not pay for.
"""
