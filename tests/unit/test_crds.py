"""Our CRDs against bindy's upstream ones: same names and scopes, and the same accept/reject
verdict on every sample fixture (valid ones, and each defect the generators can produce)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pytest_bindy_load.generators import FixtureGenerator, RecordDefect, ZoneDefect
from pytest_bindy_load.localstack.crds import crd_manifests, crd_names
from pytest_bindy_load.results import DNS_KINDS, RECORD_KINDS

# The repo and the shared dir are siblings (/work/main and /work/shared; in CI the shared copy
# sits beside the clone as well).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
UPSTREAM_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "bindy" / "crds"
NS = "bindy-load-test"
SELECTOR = {"bindy.firestoned.io/cluster": "local"}
RUN_ID = "5e1f00d2-0000-4000-8000-00000000beef"
INFRA_KINDS = ("Bind9Instance", "Bind9Cluster", "ClusterBind9Provider")


def _load_upstream() -> dict[str, dict[str, Any]]:
    crds = {}
    for path in sorted(UPSTREAM_DIR.glob("*.crd.yaml")):
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
        crds[doc["spec"]["names"]["kind"]] = doc
    return crds


UPSTREAM = _load_upstream()
OURS = {m["spec"]["names"]["kind"]: m for m in crd_manifests()}


def _version(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    found: dict[str, Any] = version
    return found


def _openapi(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = _version(crd)["schema"]["openAPIV3Schema"]
    return schema


def to_jsonschema(node: Any) -> Any:
    """OpenAPI v3 (Kubernetes flavour) -> JSON Schema: ``nullable`` becomes a null type, and the
    x-kubernetes-* extensions are dropped. Walks schema positions only, so a property that
    happened to be called "nullable" would survive."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "description"):
            continue
        if key == "properties":
            out[key] = {name: to_jsonschema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_jsonschema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_jsonschema(sub) for sub in value]
        else:
            out[key] = value
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


_VALIDATORS: dict[int, jsonschema.Draft7Validator] = {}


def _accepts(crd: dict[str, Any], obj: dict[str, Any]) -> bool:
    validator = _VALIDATORS.get(id(crd))
    if validator is None:
        validator = _VALIDATORS[id(crd)] = jsonschema.Draft7Validator(to_jsonschema(_openapi(crd)))
    return bool(validator.is_valid(obj))


def _samples() -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(id, object, expected to be accepted by the schema)."""
    gen = FixtureGenerator(20260101, RUN_ID)
    zones = gen.zones(3, instance_selector=SELECTOR, namespace=NS)
    for z in zones:
        yield f"zone-{z['metadata']['name']}", z, True
    yield "zone-mutated", gen.mutate(zones[0]), True
    null_ttl = copy.deepcopy(zones[1])
    null_ttl["spec"]["ttl"] = None
    yield "zone-null-ttl", null_ttl, True
    glue = copy.deepcopy(zones[2])
    glue["spec"]["nameServers"] = [{"hostname": "ns2.example.net.", "ipv4Address": "10.0.0.53"}]
    glue["spec"]["dnssecPolicy"] = "default"
    yield "zone-with-nameservers-and-dnssec-policy", glue, True
    bad_glue = copy.deepcopy(glue)
    bad_glue["spec"]["nameServers"][0]["hostname"] = "ns2.example.net"
    yield "zone-nameserver-without-dot", bad_glue, False
    bad_policy = copy.deepcopy(glue)
    bad_policy["spec"]["dnssecPolicy"] = "bad policy"
    yield "zone-dnssec-policy-with-space", bad_policy, False
    no_selector = copy.deepcopy(zones[0])
    no_selector["spec"]["recordsFrom"] = [{}]
    yield "zone-recordsfrom-without-selector", no_selector, False
    for defect in ZoneDefect:
        bad = gen.invalid_zone(defect, 7, instance_selector=SELECTOR, namespace=NS)
        yield f"zone-{defect}", bad, False

    for kind in RECORD_KINDS:
        for i in range(6):
            rec = gen.record(kind, zones[i % 3], i, namespace=NS)
            yield f"{kind}-{i}", rec, True
            yield f"{kind}-{i}-mutated", gen.mutate(rec), True
        no_ttl = gen.record(kind, zones[0], 99, namespace=NS)
        del no_ttl["spec"]["ttl"]
        yield f"{kind}-without-ttl", no_ttl, True
        null_ttl = gen.record(kind, zones[0], 98, namespace=NS)
        null_ttl["spec"]["ttl"] = None
        yield f"{kind}-null-ttl", null_ttl, True
        no_spec = gen.record(kind, zones[0], 97, namespace=NS)
        del no_spec["spec"]
        yield f"{kind}-without-spec", no_spec, False
    for record_defect in RecordDefect:
        bad = gen.invalid_record(record_defect, zones[0], 50, namespace=NS)
        yield f"record-{record_defect}", bad, not record_defect.schema_rejects

    def infra(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": "local"}
        if kind != "ClusterBind9Provider":
            meta["namespace"] = "bindy-system"
        return {
            "apiVersion": "bindy.firestoned.io/v1beta1",
            "kind": kind,
            "metadata": meta,
            "spec": spec,
        }

    instance = {"clusterRef": "", "role": "primary", "replicas": 1}
    yield "instance", infra("Bind9Instance", instance), True
    yield "instance-secondary", infra("Bind9Instance", {**instance, "role": "secondary"}), True
    yield "instance-bad-role", infra("Bind9Instance", {**instance, "role": "tertiary"}), False
    yield "instance-no-role", infra("Bind9Instance", {"clusterRef": "local"}), False
    yield "instance-no-cluster-ref", infra("Bind9Instance", {"role": "primary"}), False
    yield "instance-101-replicas", infra("Bind9Instance", {**instance, "replicas": 101}), False
    yield (
        "instance-storage-and-secret-ref",
        infra(
            "Bind9Instance",
            {
                **instance,
                "storage": {"storageType": "emptyDir", "emptyDir": {}},
                "rndcSecretRef": {"name": "local-rndc", "algorithm": "hmac-sha256"},
            },
        ),
        True,
    )
    yield (
        "instance-bad-storage-type",
        infra("Bind9Instance", {**instance, "storage": {"storageType": "hostPath"}}),
        False,
    )
    yield (
        "instance-secret-ref-without-name",
        infra("Bind9Instance", {**instance, "rndcSecretRef": {"algorithm": "hmac-sha256"}}),
        False,
    )
    cluster = {
        "version": "9.18",
        "primary": {"replicas": 1},
        "global": {
            "bindcarConfig": {"envVars": [{"name": "RATE_LIMIT_ENABLED", "value": "false"}]}
        },
    }
    yield "cluster", infra("Bind9Cluster", cluster), True
    yield "cluster-empty-spec", infra("Bind9Cluster", {}), True
    yield "cluster-negative-replicas", infra("Bind9Cluster", {"primary": {"replicas": -1}}), False
    yield "cluster-acls", infra("Bind9Cluster", {"acls": {"internal": ["10.0.0.0/8"]}}), True
    yield (
        "cluster-acls-not-a-list",
        infra("Bind9Cluster", {"acls": {"internal": "10.0.0.0/8"}}),
        False,
    )
    yield "provider", infra("ClusterBind9Provider", {**cluster, "namespace": "bindy-system"}), True
    no_spec = infra("ClusterBind9Provider", {})
    del no_spec["spec"]
    yield "provider-no-spec", no_spec, False
    yield (
        "provider-secondary-150",
        infra("ClusterBind9Provider", {"secondary": {"replicas": 150}}),
        False,
    )


SAMPLES = list(_samples())


def test_the_upstream_crds_are_there_to_compare_with() -> None:
    assert UPSTREAM_DIR.is_dir(), f"missing {UPSTREAM_DIR}"
    assert set(UPSTREAM) == set(DNS_KINDS) | set(INFRA_KINDS)


def test_every_bindy_kind_has_exactly_one_crd_named_like_upstream() -> None:
    assert sorted(OURS) == sorted(UPSTREAM)
    assert sorted(crd_names()) == sorted(c["metadata"]["name"] for c in UPSTREAM.values())
    assert len(crd_names()) == len(set(crd_names())) == 12


@pytest.mark.parametrize("kind", sorted(UPSTREAM))
def test_names_scope_and_status_subresource_match_upstream(kind: str) -> None:
    ours, theirs = OURS[kind], UPSTREAM[kind]
    assert ours["apiVersion"] == "apiextensions.k8s.io/v1"
    assert ours["spec"]["group"] == theirs["spec"]["group"] == "bindy.firestoned.io"
    for key in ("kind", "plural", "singular", "shortNames"):
        assert ours["spec"]["names"][key] == theirs["spec"]["names"][key], key
    assert ours["spec"]["scope"] == theirs["spec"]["scope"]
    (version,) = ours["spec"]["versions"]
    assert version["name"] == "v1beta1"
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}
    assert _openapi(ours)["required"] == ["spec"]


@pytest.mark.parametrize("kind", sorted(UPSTREAM))
def test_printer_columns_are_a_subset_of_upstream_plus_age(kind: str) -> None:
    ours = {
        (c["name"], c["jsonPath"], c["type"])
        for c in _version(OURS[kind])["additionalPrinterColumns"]
    }
    theirs = {
        (c["name"], c["jsonPath"], c["type"])
        for c in _version(UPSTREAM[kind])["additionalPrinterColumns"]
    }
    assert ("Age", ".metadata.creationTimestamp", "date") in ours
    extra = ours - theirs - {("Age", ".metadata.creationTimestamp", "date")}
    assert not extra
    # Only DNSZone's Provider column is left out (it reads a field that does not exist).
    missing = {c[0] for c in theirs - ours}
    assert missing <= {"Provider"}


@pytest.mark.parametrize("kind", sorted(UPSTREAM))
def test_spec_declares_the_same_top_level_fields_and_requirements(kind: str) -> None:
    ours = _openapi(OURS[kind])["properties"]["spec"]
    theirs = _openapi(UPSTREAM[kind])["properties"]["spec"]
    assert set(ours["properties"]) == set(theirs["properties"])
    assert sorted(ours.get("required", [])) == sorted(theirs.get("required", []))


def _undeclared(schema: dict[str, Any], value: Any, path: str = "") -> Iterator[str]:
    """Fields the API server would prune: present in the object, absent from the schema."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict) and "properties" in schema:
        for key, sub in value.items():
            if key not in schema["properties"]:
                yield f"{path}.{key}"
            else:
                yield from _undeclared(schema["properties"][key], sub, f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _undeclared(schema["items"], item, f"{path}[{i}]")


VALID = [s for s in SAMPLES if s[2]]


@pytest.mark.parametrize(("sample_id", "obj", "expected"), VALID, ids=[s[0] for s in VALID])
def test_no_field_of_a_valid_fixture_would_be_pruned(
    sample_id: str, obj: dict[str, Any], expected: bool
) -> None:
    for crd in (OURS[obj["kind"]], UPSTREAM[obj["kind"]]):
        spec_schema = _openapi(crd)["properties"]["spec"]
        assert list(_undeclared(spec_schema, obj["spec"], ".spec")) == []


@pytest.mark.parametrize(("sample_id", "obj", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_our_schema_and_upstreams_agree_on_every_sample(
    sample_id: str, obj: dict[str, Any], expected: bool
) -> None:
    ours = _accepts(OURS[obj["kind"]], obj)
    theirs = _accepts(UPSTREAM[obj["kind"]], obj)
    assert (ours, theirs) == (expected, expected)


def test_samples_cover_every_kind_and_both_outcomes() -> None:
    kinds = {obj["kind"] for _, obj, _ in SAMPLES}
    assert kinds == set(UPSTREAM)
    for kind in kinds:
        outcomes = {expected for _, obj, expected in SAMPLES if obj["kind"] == kind}
        assert outcomes == {True, False}, kind


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", sorted(UPSTREAM))
def test_our_schemas_are_structural(kind: str) -> None:
    """Every node has a type, and properties never sit beside additionalProperties, which the
    API server requires of v1 CRDs."""
    for path, node in _nodes(_openapi(OURS[kind])):
        assert "type" in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert node["type"] == "object", path


def test_crd_manifests_are_fresh_copies() -> None:
    first = crd_manifests()
    first[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"].clear()
    second = crd_manifests()
    assert second[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
