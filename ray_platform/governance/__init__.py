"""Governance and security: catalog, classification, access control with masking, the audit
trail, encryption at rest, GDPR erasure, retention and data-quality monitoring.

Every read path of the platform (the Python API, ``gbank sql`` and the other read commands, the
HTTP APIs) goes through :mod:`ray_platform.governance.access` with a principal, and every access,
job run, model promotion and erasure is appended to the hash-chained audit trail.
"""
