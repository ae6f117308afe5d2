"""configs/kubernetes/kafka-dr.yaml: the objects docs/deploy.md describes, wired to each other.

(Its embedded kafka-dr config is loaded by tests/config/test_sample_configs.py.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path(__file__).parents[1] / "configs" / "kubernetes" / "kafka-dr.yaml"
KINDS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "Service": "v1",
}


def objects() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    kinds = [d["kind"] for d in docs]
    assert len(kinds) == len(set(kinds)), f"one object of each kind expected, got {kinds}"
    return {d["kind"]: d for d in docs}


def container() -> dict[str, Any]:
    (only,) = objects()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_the_manifest_holds_the_expected_kinds_with_their_api_versions() -> None:
    found = objects()

    assert {kind: doc["apiVersion"] for kind, doc in found.items()} == KINDS
    for doc in found.values():
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


def test_readiness_asks_healthz_and_liveness_does_not() -> None:
    probes = container()

    assert probes["readinessProbe"]["httpGet"]["path"] == "/healthz"
    # /healthz is 503 while a job or drill fails: restarting the pod would not fix that.
    assert "/healthz" not in yaml.safe_dump(probes["livenessProbe"])
    assert "/healthz" not in yaml.safe_dump(probes.get("startupProbe", {}))


def test_the_pod_mounts_the_configmap_the_secret_and_the_claim_defined_beside_it() -> None:
    found = objects()
    pod = found["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container()["volumeMounts"]}

    assert volumes["config"]["configMap"]["name"] == found["ConfigMap"]["metadata"]["name"]
    assert volumes["secrets"]["secret"]["secretName"] == found["Secret"]["metadata"]["name"]
    claim = volumes["state"]["persistentVolumeClaim"]["claimName"]
    assert claim == found["PersistentVolumeClaim"]["metadata"]["name"]
    assert mounts == {
        "config": "/etc/kafka-dr/kafka-dr.yaml",
        "secrets": "/etc/kafka-dr/secrets",
        "state": "/var/lib/kafka-dr",
        "tmp": "/tmp",
    }
    assert container()["args"] == ["--config", "/etc/kafka-dr/kafka-dr.yaml", "daemon"]


def test_every_secret_the_config_reads_is_provided_by_the_pod() -> None:
    found = objects()
    text = found["ConfigMap"]["data"]["kafka-dr.yaml"]
    config = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    secret_keys = set(found["Secret"]["stringData"])
    env = {e["name"]: e for e in container().get("env", [])}

    for ref in re.findall(r"\$\{file:secrets/([^}]*)\}", config):
        assert ref in secret_keys, f"the config reads secrets/{ref}; the Secret lacks it"
    for name in re.findall(r"\$\{env:([^}]*)\}", config):
        key = env[name]["valueFrom"]["secretKeyRef"]
        assert key["name"] == found["Secret"]["metadata"]["name"] and key["key"] in secret_keys
    for path in re.findall(r"/etc/kafka-dr/secrets/([\w.-]+)", config):
        assert path in secret_keys, f"the config reads secrets/{path}; the Secret lacks it"


def test_the_pod_runs_unprivileged_and_its_service_keeps_it_scraped() -> None:
    found = objects()
    pod = found["Deployment"]["spec"]["template"]["spec"]
    security = container()["securityContext"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert found["Deployment"]["spec"]["replicas"] == 1
    service = found["Service"]["spec"]
    assert service["selector"] == found["Deployment"]["spec"]["selector"]["matchLabels"]
    assert service["publishNotReadyAddresses"] is True
    assert [p["port"] for p in service["ports"]] == [9187]
