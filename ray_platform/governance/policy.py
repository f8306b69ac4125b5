"""The access policy: which datasets each role may read and how each classification is shown.

The policy is a YAML file (``settings.access_policy``, by default ``policy.yaml`` beside this
module) validated by the pydantic models below. A malformed file is refused when it is loaded,
never half-applied, and the error names the file and the line at fault: the YAML is composed into
nodes first, and a validation error's location is walked back through those nodes to their marks.

Lookups fail closed. A role the file does not list raises :class:`AccessDenied` ("no rule for
role X"), so a typo in a role gets nothing rather than a default; a dataset is readable only when
one of the role's ``read`` patterns matches it and none of its ``deny`` patterns does.

Example::

    policy = load_policy(project_path("ray_platform/governance/policy.yaml"))
    policy.mask("analyst", "email", "confidential")   # ("tokenise", "roles.analyst.masks...")
"""

from __future__ import annotations

import fnmatch
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from ray_platform.errors import AccessDenied, ConfigError
from ray_platform.settings import Settings, get_settings, project_path

Classification = Literal["public", "internal", "confidential", "restricted"]
CLASSIFICATIONS: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
Mask = Literal["clear", "partial", "tokenise", "hash", "redact", "deny"]
PATTERN = r"^[a-z0-9_*?]+\.[a-z0-9_*?]+$"


def _pattern(p: str) -> str:
    if not re.match(PATTERN, p):
        raise ValueError(f"{p!r} is not a dataset pattern like silver.* or warehouse.dim_x")
    return p


DatasetPattern = Annotated[str, AfterValidator(_pattern)]
"""``schema.table`` with shell-style wildcards: ``silver.*``, ``mart_*.*``."""


class RoleRule(BaseModel):
    """What one role may read and how it sees each classification."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(default="", description="Who holds the role and why.")
    read: list[DatasetPattern] = Field(description="Dataset patterns the role may read.")
    deny: list[DatasetPattern] = Field(default=[], description="Never readable; beat `read`.")
    masks: dict[Classification, Mask] = Field(description="How each classification is shown.")
    columns: dict[str, Mask] = Field(default={}, description="Per-column overrides of `masks`.")

    @field_validator("masks")
    @classmethod
    def _every_classification(cls, masks: dict[str, str]) -> dict[str, str]:
        if missing := [c for c in CLASSIFICATIONS if c not in masks]:
            raise ValueError(f"masks must cover every classification; missing {missing}")
        return masks


class Policy(BaseModel):
    """The whole policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(description="Format version of the policy file.")
    roles: dict[str, RoleRule] = Field(description="Rules by role name.")
    source: str = Field(default="<policy>", exclude=True, description="Where it was loaded from.")

    def role(self, name: str) -> RoleRule:
        """The rule of role ``name``; :class:`AccessDenied` when the policy has none."""
        try:
            return self.roles[name]
        except KeyError:
            raise AccessDenied(
                f"no rule for role {name!r} in the access policy {self.source}; "
                f"roles: {', '.join(self.roles)}"
            ) from None

    def may_read(self, role: str, dataset: str) -> tuple[bool, str]:
        """Whether ``role`` may read ``dataset`` (``schema.table``) and the rule that says so."""
        rule = self.role(role)
        for p in rule.deny:
            if fnmatch.fnmatchcase(dataset, p):
                return False, f"roles.{role}.deny matches {dataset} with {p!r}"
        for p in rule.read:
            if fnmatch.fnmatchcase(dataset, p):
                return True, f"roles.{role}.read allows {dataset} with {p!r}"
        return False, f"roles.{role}.read allows only {', '.join(rule.read) or 'nothing'}"

    def mask(self, role: str, column: str, classification: str) -> tuple[str, str]:
        """How ``role`` sees ``column`` of ``classification``, and the rule that says so."""
        rule = self.role(role)
        if column in rule.columns:
            return rule.columns[column], f"roles.{role}.columns.{column} = {rule.columns[column]}"
        if classification not in rule.masks:  # an unknown classification is the strictest
            return "deny", f"unknown classification {classification!r} is denied"
        mode = rule.masks[classification]  # type: ignore[index]
        return mode, f"roles.{role}.masks.{classification} = {mode}"


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate policy YAML; :class:`ConfigError` names ``source`` and the line at fault."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        context = ""
        if exc.context and exc.context_mark:  # e.g. the bracket that was never closed
            context = f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise ConfigError(f"{source}:{line}: not valid YAML: {exc.problem}{context}") from None
    if root is None:
        raise ConfigError(f"{source}:1: the access policy is empty")
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{source}:{root.start_mark.line + 1}: the policy must be a mapping")
    _no_duplicate_keys(root, source)
    data = yaml.SafeLoader(text).get_single_data()
    try:
        return Policy.model_validate({**data, "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        line = _line_of(root, err["loc"])
        where = ".".join(str(p) for p in err["loc"]) or "policy"
        raise ConfigError(f"{source}:{line}: {where}: {err['msg']}") from None


def _no_duplicate_keys(node: yaml.Node, source: str) -> None:
    """YAML lets a later key silently replace an earlier one; a policy must not."""
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            if key.value in seen:
                raise ConfigError(
                    f"{source}:{key.start_mark.line + 1}: duplicate key {key.value!r}"
                )
            seen.add(key.value)
            _no_duplicate_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _no_duplicate_keys(item, source)


def _line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest node on ``loc`` (a pydantic error location)."""
    mark = node.start_mark
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            mark, node = match[0].start_mark, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return mark.line + 1


def load_policy(path: Path | str) -> Policy:
    """The policy in file ``path``, re-read when the file changes."""
    p = Path(path)
    try:
        stamp = os.stat(p).st_mtime_ns
    except FileNotFoundError:
        raise ConfigError(f"access policy {p} does not exist (setting access_policy)") from None
    return _load(str(p), stamp)


@lru_cache(maxsize=8)
def _load(path: str, stamp: int) -> Policy:
    return parse_policy(Path(path).read_text(), source=path)


def policy_for(settings: Settings | None = None) -> Policy:
    """The policy named by ``settings.access_policy`` (relative paths: the project root)."""
    s = settings or get_settings()
    return load_policy(project_path(s.access_policy))
