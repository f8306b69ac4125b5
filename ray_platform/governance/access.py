"""Access control with dynamic masking: the one way people read the platform's data.

Every read path goes through here with a :class:`Principal` (user and role): the Python API
(:func:`read_table`), self-service SQL (:func:`governed_connection`, used by ``gbank sql``),
the CLI's other read commands (``--user``/``--role``) and the HTTP APIs (the principal comes
from the authenticated token). :func:`authorize` asks the policy (:mod:`.policy`) whether the
role may read a dataset and how each column is shown, and appends the decision, allowed or
denied, to the audit trail.

Why masking cannot be undone with clever SQL: a governed DuckDB connection never sees the raw
data. Each dataset the principal may read is registered already masked (an in-memory Arrow
table; only a dataset the principal sees entirely in clear, with no column stored encrypted,
is registered as the lazy Delta dataset itself; encrypted columns and sealed bronze files are
decrypted before masking), denied datasets and denied columns are simply absent, and marts are
computed in a private connection from masked inputs and registered as results. Then the
connection turns off Python replacement scans, file access (``read_parquet``, ``COPY ... TO``,
``ATTACH``, ``INSTALL``) and locks its configuration. Views, CTEs, joins and functions over a
column can only ever see its masked values, because nothing else is in the connection.

Example::

    alice = Principal("alice", "analyst")
    emails = read_table(alice, "silver.customers", ["customer_id", "email"])  # tokens
    con = governed_connection(alice)
    con.sql("SELECT count(*) FROM mart_customer.customer_current").fetchall()
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from ray_platform.contracts import CONTRACTS, TableContract
from ray_platform.errors import AccessDenied, EncryptionError, InvalidArgument, NotFound
from ray_platform.governance.masking import mask_table
from ray_platform.governance.policy import Policy, policy_for
from ray_platform.lake import layout
from ray_platform.settings import Settings, get_settings, load_settings
from ray_platform.tables import table_store

log = logging.getLogger(__name__)

_RANK = {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}
SCHEMAS = ("bronze", "silver", "gold", "warehouse", "platform")
_PATHS = {"silver": "silver/", "gold": "gold/", "warehouse": "gold/warehouse/",
          "platform": "_system/", "bronze": "bronze/", "reports": "reports/"}  # fmt: skip
UNREADABLE = b"gbank.unreadable_files"
"""Schema metadata of a bronze read: JSON ``{path: reason}`` of the files that did not parse."""


@dataclass(frozen=True)
class Principal:
    """Who reads: a user name and the role the policy knows them by."""

    user: str
    role: str

    def __post_init__(self) -> None:
        if not self.user or not self.role:
            raise InvalidArgument("a principal needs a user and a role")


def principal_from_settings(settings: Settings | None = None) -> Principal:
    """The settings' identity (``GBANK_USER``, ``GBANK_ROLE``): the CLI's default principal."""
    s = settings or get_settings()
    return Principal(s.user, s.role)


def principal_from_token(token: str, settings: Settings | None = None) -> Principal:
    """The principal an HTTP API reads as: the verified bearer token's subject and role.

    A bad, expired or replayed token raises :class:`~ray_platform.errors.AuthenticationFailed`
    (:func:`ray_platform.governance.auth.verify_token`); a token without a role gets nothing.
    """
    from ray_platform.governance.auth import verify_token

    verified = verify_token(token, settings)
    if not verified.role:
        raise AccessDenied(f"no rule for a token without a role (subject {verified.subject!r})")
    return Principal(verified.subject, verified.role)


def cli_principal(
    user: str | None = None, role: str | None = None, settings: Settings | None = None
) -> Principal:
    """The principal of a CLI command's ``--user``/``--role``, each defaulting to the settings."""
    s = settings or get_settings()
    return Principal(user or s.user, role or s.role)


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one principal and dataset.

    ``masks`` maps each column the principal sees to its mask (denied columns are absent and
    listed in ``denied``); ``rule`` names the policy rule that decided.
    """

    principal: Principal
    dataset: str
    allowed: bool
    rule: str
    masks: dict[str, str] = field(default_factory=dict)
    denied: tuple[str, ...] = ()

    @property
    def clear(self) -> bool:
        """Whether every column is shown as stored and none is withheld."""
        return not self.denied and all(m == "clear" for m in self.masks.values())

    def raise_if_denied(self) -> None:
        """:class:`AccessDenied` naming the rule when the read is not allowed."""
        if not self.allowed:
            raise AccessDenied(
                f"{self.principal.user} (role {self.principal.role}) may not read "
                f"{self.dataset}: {self.rule}"
            )


# -- datasets and their classifications --------------------------------------------------------


def dataset_name(name: str) -> str:
    """``schema.table`` for a dataset named either that way or by its lake path."""
    n = name.strip().strip("/")
    if "/" in n:
        if n.startswith("gold/warehouse/"):
            n = "warehouse." + n.removeprefix("gold/warehouse/")
        elif n.startswith("_system/"):
            n = "platform." + n.removeprefix("_system/")
        else:
            n = n.replace("/", ".", 1)
    if not re.match(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", n):
        raise InvalidArgument(f"not a dataset name: {name!r} (e.g. silver.customers)")
    return n


def dataset_path(name: str) -> str:
    """The lake path of a dataset (marts, which have none, as ``mart_x/view``)."""
    schema, table = name.split(".", 1)
    return _PATHS.get(schema, f"{schema}/") + table


def zone_of(name: str) -> str:
    """The zone of a dataset: its schema, with every ``mart_*`` schema as ``mart``."""
    schema = name.split(".", 1)[0]
    return "mart" if schema.startswith("mart_") else schema


@lru_cache(maxsize=1)
def _by_name() -> dict[str, str]:
    """Every silver column name with the strictest classification any contract gives it."""
    out: dict[str, str] = {}
    for c in CONTRACTS.values():
        for col in c.columns:
            if _RANK[col.classification] > _RANK.get(out.get(col.name, "public"), -1):
                out[col.name] = col.classification
    return out


def classification_of(dataset: str, column: str) -> str:
    """The classification of ``column`` in ``dataset``: the data catalog's, where it has one.

    The catalog (:mod:`.catalog`) is the one source of truth for what it declares: silver and
    bronze columns (from the contracts, derived ``_minor`` and ``_reporting`` amounts included),
    gold and warehouse columns. What it does not declare falls back: bronze's ``_file`` and
    ``_record`` and the contract's own columns (were the catalog unavailable), then the
    strictest classification any silver contract gives a column of that name (a ``city`` is
    confidential wherever it is copied: the marts, ``platform`` tables), else ``internal``.
    """
    if (declared := _declared(dataset, column)) is not None:
        return declared
    schema, table = dataset.split(".", 1)
    base = column.rsplit(".", 1)[-1]
    for suffix in ("_minor", "_reporting"):
        if base.endswith(suffix) and base.removesuffix(suffix) in _by_name():
            base = base.removesuffix(suffix)
    if schema in ("silver", "bronze") and table in CONTRACTS:
        try:
            return CONTRACTS[table].column(base).classification
        except KeyError:
            pass
    return _by_name().get(base, "internal")


def _catalog_name(dataset: str) -> str | None:
    """The catalog's name of a dataset (a bronze feed by its first file), None if it has none."""
    schema, table = dataset.split(".", 1)
    if schema == "bronze":
        contract = CONTRACTS.get(table)
        if contract is None:
            return None
        return f"bronze/{contract.source}/{contract.file_names[0].split('.', 1)[0]}"
    if schema in ("silver", "gold", "warehouse"):
        return dataset_path(dataset)
    return None  # marts and platform tables are not in the catalog


def _declared(dataset: str, column: str) -> str | None:
    """The catalog's classification of ``column`` in ``dataset``; None where it declares none."""
    cat, name = _catalog(), _catalog_name(dataset)
    if cat is None or name is None or (entry := cat.datasets.get(name)) is None:
        return None
    try:
        return entry.column(column).classification
    except NotFound:
        return None


@lru_cache(maxsize=1)
def _catalog() -> Any:
    """The data catalog (:mod:`.catalog`), built once: classifications do not depend on settings.

    ``None`` when the catalog cannot be built (logged): the fallbacks of
    :func:`classification_of` still apply.
    """
    try:
        from ray_platform.governance.catalog import catalog

        # Not get_settings(): its process-wide cache must not be filled from here.
        return catalog(load_settings())
    except Exception:  # any failure falls back to the contracts and the rule by name
        log.warning("no data catalog; classifications from the contracts", exc_info=True)
        return None


def _decide(
    policy: Policy,
    principal: Principal,
    dataset: str,
    available: Sequence[str],
    requested: Sequence[str] | None,
) -> Decision:
    try:
        ok, rule = policy.may_read(principal.role, dataset)
    except AccessDenied as exc:
        return Decision(principal, dataset, False, str(exc))
    if not ok:
        return Decision(principal, dataset, False, rule)
    if requested is not None and (unknown := [c for c in requested if c not in available]):
        raise NotFound(f"{dataset} has no column {', '.join(map(repr, unknown))}")
    masks, denied, refused = _masks(policy, principal.role, dataset, requested or available)
    if refused and requested is not None:
        return Decision(
            principal, dataset, False, f"column {', '.join(refused)}", masks, tuple(denied)
        )
    return Decision(principal, dataset, True, rule, masks, tuple(denied))


def _masks(
    policy: Policy, role: str, dataset: str, columns: Sequence[str]
) -> tuple[dict[str, str], tuple[str, ...], list[str]]:
    """Each column's mask for ``role``; the denied columns; and why each is denied."""
    masks: dict[str, str] = {}
    denied: list[str] = []
    why_denied: list[str] = []
    for col in columns:
        mode, why = policy.mask(role, col, classification_of(dataset, col))
        if mode == "deny":
            denied.append(col)
            why_denied.append(f"{col} ({why})")
        else:
            masks[col] = mode
    return masks, tuple(denied), why_denied


def _audit(settings: Settings, principal: Principal, outcome: str, **details: Any) -> None:
    from ray_platform.governance.audit import audit_trail

    audit_trail(settings).append(
        "access", actor=principal.user, role=principal.role, outcome=outcome, **details
    )


def _record(settings: Settings, decision: Decision, query: str | None) -> Decision:
    _audit(
        settings,
        decision.principal,
        "allowed" if decision.allowed else "denied",
        dataset=dataset_path(decision.dataset),
        table=decision.dataset,
        columns=sorted(decision.masks),
        masked={c: m for c, m in sorted(decision.masks.items()) if m != "clear"},
        withheld=list(decision.denied),
        rule=decision.rule,
        query=query,
    )
    return decision


def authorize(
    principal: Principal,
    dataset: str,
    columns: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    query: str | None = None,
) -> Decision:
    """May ``principal`` read ``columns`` (default: all) of ``dataset``, and how masked.

    The decision is appended to the audit trail whatever it is. Asking for a column the role
    may not see denies the read; asking for all columns just leaves such columns out.
    """
    s = settings or get_settings()
    name = dataset_name(dataset)
    available = _columns(name, s) if _exists(name, s) else list(columns or [])
    decision = _decide(policy_for(s), principal, name, available, columns)
    return _record(s, decision, query)


# -- the sources behind dataset names ----------------------------------------------------------


def datasets(settings: Settings | None = None, bronze: bool = True) -> list[str]:
    """Every dataset that exists now: lake tables, bronze feeds with files, and marts."""
    from ray_platform.warehouse import marts
    from ray_platform.warehouse import sql as wsql

    s = settings or get_settings()
    found = set(wsql.catalog(table_store(s)))
    names = sorted(found)
    names += [v.qualified for v in marts.MARTS if all(_need(n) in found for n in v.needs)]
    if bronze:
        names += [f"bronze.{c}" for c in CONTRACTS if _bronze_files(CONTRACTS[c], s)]
    return names


def _need(need: str) -> str:
    if need.startswith("_system/"):
        return f"platform.{need.split('/', 1)[1]}"
    return f"warehouse.{need}"


def _exists(name: str, s: Settings) -> bool:
    schema = name.split(".", 1)[0]
    if schema == "bronze":
        table = name.split(".", 1)[1]
        return table in CONTRACTS and bool(_bronze_files(CONTRACTS[table], s))
    if schema.startswith("mart_"):
        return name in datasets(s, bronze=False)
    if schema in _PATHS and schema != "reports":
        return table_store(s).exists(dataset_path(name))
    return False


def _resolve(name: str, s: Settings) -> str:
    n = dataset_name(name)
    if not _exists(n, s):
        raise NotFound(f"no dataset {n!r}; see `gbank sql --tables`")
    return n


def _bronze_files(contract: TableContract, s: Settings) -> list[str]:
    storage = table_store(s).storage
    out = []
    for path in storage.list(f"{layout.BRONZE}/{contract.source}", recursive=True):
        base = path.rsplit("/", 1)[-1]
        parts = base.split(".")
        if len(parts) > 2 and re.fullmatch(r"[0-9a-f]{8}", parts[1]):  # name.<sha8>.ext
            base = ".".join([parts[0], *parts[2:]])
        if contract.matches_file(base):
            out.append(path)
    for topic in contract.stream_topics:  # batches landed from the Kafka topics
        from ray_platform.lake.kafka_landing import stream_source

        for path in storage.list(f"{layout.BRONZE}/{stream_source(topic)}", recursive=True):
            name = path.rsplit("/", 1)[-1]
            if name.startswith(f"{topic}-p") and name.endswith(".jsonl"):
                out.append(path)
    return out


def _bronze_table(contract: TableContract, s: Settings) -> pa.Table:
    """Every landed record of a feed as text columns named by their path, plus ``_file``.

    Sealed files are opened first (:func:`~ray_platform.governance.crypto.read_bronze`; records
    of erased customers are gone). A file that cannot be opened (tampered, key missing) raises
    :class:`EncryptionError` naming it. A file that opens but does not parse as its feed (bronze
    keeps what came; silver quarantines it) is left out, logged, and listed with its reason in
    the result's schema metadata under :data:`UNREADABLE`.
    """
    from ray_platform.governance.crypto import read_bronze
    from ray_platform.lake.parse import MalformedFile, parse_file

    storage = table_store(s).storage
    parts = []
    unreadable: dict[str, str] = {}
    for path in _bronze_files(contract, s):
        try:
            data = read_bronze(storage, path, s)
        except EncryptionError as exc:
            raise EncryptionError(f"cannot open bronze file {path}: {exc}") from None
        try:
            t = parse_file(contract, data, path).table
        except MalformedFile as exc:
            unreadable[path] = str(exc)
            continue
        parts.append(t.append_column("_file", pa.array([path] * t.num_rows, pa.string())))
    if parts:
        table = pa.concat_tables(parts, promote_options="permissive")
    else:
        table = pa.table({"_file": pa.array([], pa.string())})
    if not unreadable:
        return table
    log.warning(
        "bronze.%s: %d file(s) left out, they do not parse: %s",
        contract.name,
        len(unreadable),
        "; ".join(f"{p} ({why})" for p, why in sorted(unreadable.items())),
    )
    return table.replace_schema_metadata({UNREADABLE: json.dumps(unreadable, sort_keys=True)})


def _columns(name: str, s: Settings) -> list[str]:
    schema, table = name.split(".", 1)
    if schema == "bronze":  # what the parser names them, without parsing every file
        return [*(c.path for c in CONTRACTS[table].columns), "_record", "_file"]
    if schema.startswith("mart_"):
        return _mart(name, s, None).column_names
    return table_store(s).dataset(dataset_path(name)).schema.names


def _mart(name: str, s: Settings, masked_for: Principal | None) -> pa.Table:
    """A mart view computed in a private connection (never the caller's).

    With ``masked_for``, the warehouse tables it reads are masked for that principal first,
    so the mart can only be derived from what the principal could see; without, only its
    (empty) schema is computed, for its column names.
    """
    import duckdb

    from ray_platform.warehouse import marts

    view = next(v for v in marts.MARTS if v.qualified == name)
    con = duckdb.connect()
    try:
        con.execute("SET python_enable_replacements = false")
        for schema in ("warehouse", "platform", view.mart):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for need in view.needs:
            base = _need(need)
            if masked_for is None:
                source: Any = table_store(s).dataset(dataset_path(base))
            else:
                # The mart's inputs need not be readable themselves, only masked.
                masks, denied, _ = _masks(policy_for(s), masked_for.role, base, _columns(base, s))
                source = _source(base, Decision(masked_for, base, True, "", masks, denied), s)
            _register(con, base, source)
        con.execute("SET enable_external_access = false")
        sql = f"SELECT * FROM ({view.sql})" + (" LIMIT 0" if masked_for is None else "")
        return con.sql(sql).to_arrow_table()
    except duckdb.BinderException as exc:
        raise AccessDenied(f"{name} needs a column the role may not see: {exc}") from None
    finally:
        con.close()


def _source(name: str, decision: Decision, s: Settings) -> pa.Table | pads.Dataset:
    """What to register for ``name``: masked rows, or the lazy dataset when all is clear.

    Columns stored encrypted (:mod:`.crypto`) are decrypted before masking, so a mask sees
    the stored value (a token, an amount), never ciphertext; then the lazy dataset, which
    would hand out ciphertext, is not used.
    """
    from ray_platform.governance import crypto
    from ray_platform.lake.tokens import token_key

    schema, table = name.split(".", 1)
    if schema == "bronze":
        raw: pa.Table | pads.Dataset = _bronze_table(CONTRACTS[table], s)
        masked = mask_table(raw, decision.masks, token_key(s))
        return masked.replace_schema_metadata(raw.schema.metadata)  # the unreadable files
    if schema.startswith("mart_"):
        raw = _mart(name, s, decision.principal)
        return mask_table(raw, decision.masks, token_key(s))
    path = dataset_path(name)
    raw = table_store(s).dataset(path)
    wanted = [c for c in raw.schema.names if c in decision.masks]
    encrypted = crypto.encryption_enabled(s) and bool(crypto.encrypted_columns(path, wanted))
    if decision.clear and set(decision.masks) == set(raw.schema.names) and not encrypted:
        return raw
    raw = raw.to_table(columns=wanted)
    if encrypted:
        raw = crypto.decrypt_columns(raw, path, s)
    return mask_table(raw, decision.masks, token_key(s))


def _register(con: Any, name: str, source: Any) -> None:
    schema, table = name.split(".", 1)
    hidden = f"__{schema}__{table}"
    con.register(hidden, source)
    con.execute(f'CREATE VIEW {schema}."{table}" AS SELECT * FROM "{hidden}"')


# -- the read paths ----------------------------------------------------------------------------


def read_table(
    principal: Principal,
    name: str,
    columns: Sequence[str] | None = None,
    filter: str | pc.Expression | None = None,
    *,
    settings: Settings | None = None,
) -> pa.Table:
    """``name`` (``silver.customers`` or ``silver/customers``) as ``principal`` may see it.

    ``filter`` (a SQL condition or a pyarrow expression) is applied after masking, so it cannot
    be used to probe clear values of a masked column. Raises :class:`AccessDenied` naming the
    policy rule, or :class:`NotFound`. Encrypted columns and sealed bronze files are decrypted
    before masking; a bronze read lists the files it left out (they do not parse) in its
    schema metadata under :data:`UNREADABLE`.
    """
    s = settings or get_settings()
    dataset = _resolve(name, s)
    decision = authorize(principal, dataset, columns, settings=s)
    decision.raise_if_denied()
    data = _source(dataset, decision, s)
    table = data if isinstance(data, pa.Table) else data.to_table()
    table = table.select([c for c in (columns or table.column_names) if c in decision.masks])
    if filter is None:
        return table
    if isinstance(filter, pc.Expression):
        return table.filter(filter)
    return _sql_filter(table, filter).replace_schema_metadata(table.schema.metadata)


def _sql_filter(table: pa.Table, condition: str) -> pa.Table:
    import duckdb

    from ray_platform.warehouse.sql import check

    sql = f"SELECT * FROM t WHERE {condition}"
    check(sql)
    con = duckdb.connect()
    try:
        con.execute("SET python_enable_replacements = false")
        con.register("t", table)
        _lock(con)
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise InvalidArgument(f"bad filter {condition!r}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


def _lock(con: Any) -> None:
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def governed_connection(
    principal: Principal,
    settings: Settings | None = None,
    names: set[str] | None = None,
    *,
    query: str | None = None,
) -> Any:
    """A DuckDB connection holding only what ``principal`` may read, already masked.

    ``names`` (``schema.table``) limits it to the datasets a statement reads; naming a dataset
    the role may not read raises :class:`AccessDenied`. Without ``names`` every readable
    dataset is registered and the others are absent. External access is off and the
    configuration locked before the connection is returned.
    """
    import duckdb

    from ray_platform.warehouse import marts

    s = settings or get_settings()
    policy = policy_for(s)
    try:
        policy.role(principal.role)
    except AccessDenied as exc:
        _audit(s, principal, "denied", rule=str(exc), query=query)
        raise
    bronze = _reads_bronze(policy, principal.role) or any(
        n.startswith("bronze.") for n in names or ()
    )
    existing = datasets(s, bronze=bronze)
    if names is None:
        targets = [n for n in existing if policy.may_read(principal.role, n)[0]]
    else:
        targets = [n for n in sorted(names) if n in existing]
    con = duckdb.connect()
    try:
        con.execute("SET python_enable_replacements = false")
        for schema in (*SCHEMAS, *sorted({v.mart for v in marts.MARTS})):
            con.execute(f"CREATE SCHEMA {schema}")
        for name in targets:  # all exist: no need to look again, as authorize() would
            decision = _record(s, _decide(policy, principal, name, _columns(name, s), None), query)
            decision.raise_if_denied()
            try:
                source = _source(name, decision, s)
            except AccessDenied:  # a mart built on a column the role may not see
                if names is not None:
                    raise
                continue
            _register(con, name, source)
        _lock(con)
    except BaseException:
        con.close()
        raise
    return con


def denied_column(
    principal: Principal, names: set[str], column: str, settings: Settings | None = None
) -> AccessDenied | None:
    """The error to raise when a query used ``column``, absent because the role may not see it.

    ``None`` when no dataset in ``names`` withholds that column (then it is a plain typo).
    """
    s = settings or get_settings()
    policy = policy_for(s)
    for name in sorted(names):
        if "." not in name or not _exists(name, s) or column not in _columns(name, s):
            continue
        mode, why = policy.mask(principal.role, column, classification_of(name, column))
        if mode == "deny":
            _audit(s, principal, "denied", dataset=dataset_path(name), table=name,
                   columns=[column], rule=why)  # fmt: skip
            return AccessDenied(
                f"{principal.user} (role {principal.role}) may not read column {column} of "
                f"{name}: {why}"
            )
    return None


def readable(principal: Principal, settings: Settings | None = None) -> list[str]:
    """The datasets ``principal`` may read now (what ``gbank sql --tables`` lists)."""
    s = settings or get_settings()
    policy = policy_for(s)
    policy.role(principal.role)
    bronze = _reads_bronze(policy, principal.role)
    return [n for n in datasets(s, bronze=bronze) if policy.may_read(principal.role, n)[0]]


def _reads_bronze(policy: Policy, role: str) -> bool:
    """Whether any ``read`` pattern of ``role`` can match a bronze feed (listing them costs)."""
    return any(fnmatch.fnmatchcase("bronze", p.split(".", 1)[0]) for p in policy.role(role).read)
