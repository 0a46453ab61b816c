"""deploy/k8s, checked offline: every manifest validated against the Kubernetes schemas
(kubernetes-validate, strict), then structural checks against the code's own settings."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.test_compose import (
    CAREPATH_COMMANDS,
    SERVICE_SETTINGS,
    env_names,
    is_secret,
)
from worker.adapters import INTEGRATIONS

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
SECRETS_DIR = "/run/secrets"


def load() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container_env(doc: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    """A Deployment's container environment, the ConfigMaps it pulls in included."""
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    maps = by_kind(docs, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        env |= maps[source["configMapRef"]["name"]]["data"]
    env |= {e["name"]: str(e.get("value", "")) for e in container.get("env") or []}
    return env


def check_pod(service: str, pod: dict[str, Any], argv: list[str]) -> list[str]:
    """The container's command, resources, probes, user, filesystem and secrets volume."""
    problems: list[str] = []
    (container,) = pod["containers"]
    if container.get("command") != argv:
        problems.append(f"{service} runs {container.get('command')}, wants {argv}")
    resources = container.get("resources") or {}
    for part in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(resources.get(part) or {}):
            problems.append(f"{service}: resources.{part} needs cpu and memory")
    for probe in ("livenessProbe", "readinessProbe"):
        if "httpGet" not in (container.get(probe) or {}):
            problems.append(f"{service}: no HTTP {probe}")
    security = pod.get("securityContext") or {}
    if not security.get("runAsNonRoot") or security.get("runAsUser") != 10001:
        problems.append(f"{service}: must run as the image's user 10001, non-root")
    if not (container.get("securityContext") or {}).get("readOnlyRootFilesystem"):
        problems.append(f"{service}: root filesystem must be read-only")
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    secret_mount = mounts.get(SECRETS_DIR)
    if secret_mount is None or "secret" not in volumes.get(secret_mount["name"], {}):
        problems.append(f"{service}: secrets must be a Secret volume at {SECRETS_DIR}")
    return problems


def check_env(service: str, env: dict[str, str]) -> list[str]:
    """Only this service's settings, secrets as files under the secrets volume."""
    problems: list[str] = []
    known: set[str] = set()
    for model in SERVICE_SETTINGS[service]:
        known |= env_names(model, file_variants=True).keys()
    for key, value in env.items():
        if key.startswith("CAREPATH_") and key not in known:
            problems.append(f"{service}: {key} is not a setting of this service")
        if is_secret(key) and not key.endswith("_FILE"):
            problems.append(f"{service}: secret {key} as a literal; use {key}_FILE")
        if key.endswith("_FILE") and not value.startswith(SECRETS_DIR + "/"):
            problems.append(f"{service}: {key} must name a file under {SECRETS_DIR}")
    if urlsplit(env.get("DATABASE_URL", "")).password:
        problems.append(f"{service}: DATABASE_URL carries a password")
    return problems


def check_worker(worker: dict[str, Any], docs: list[dict[str, Any]]) -> list[str]:
    """Production mode, every integration's settings, a shutdown within the grace, replicas."""
    problems: list[str] = []
    env = container_env(worker, docs)
    pod = worker["spec"]["template"]["spec"]
    if env.get("CAREPATH_ENV", "production") != "production":
        problems.append("the worker must run as production (fail closed)")
    for integration in INTEGRATIONS:
        for field in integration.needs:
            var = f"CAREPATH_{field.upper()}"
            if var not in env and f"{var}_FILE" not in env:
                problems.append(f"worker lacks {var}")
    grace = float(env.get("CAREPATH_GRACEFUL_SHUTDOWN_SECONDS") or 0)
    if not 0 < grace < pod.get("terminationGracePeriodSeconds", 30):
        problems.append("worker graceful shutdown must end within terminationGracePeriod")
    if worker["spec"].get("replicas", 1) < 2:
        problems.append("run at least two worker replicas")
    return problems


def check(docs: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    deployments = by_kind(docs, "Deployment")
    for service, argv in CAREPATH_COMMANDS.items():
        doc = deployments.get(f"carepath-{service}")
        if doc is None:
            problems.append(f"no Deployment carepath-{service}")
            continue
        problems += check_pod(service, doc["spec"]["template"]["spec"], argv)
        problems += check_env(service, container_env(doc, docs))
    worker = deployments.get("carepath-worker")
    if worker is not None:
        problems += check_worker(worker, docs)
    services = by_kind(docs, "Service")
    for name in ("carepath-api", "carepath-codec"):
        if name not in services:
            problems.append(f"no Service {name}")
    return problems


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    docs = load()
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "ConfigMap", "Namespace"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_manifests_follow_the_code() -> None:
    assert check(load()) == []


def _worker(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(docs, "Deployment")["carepath-worker"]


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = doc["spec"]["template"]["spec"]["containers"][0]
    return container


def _env_list(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = _container(_worker(docs))["env"]
    return env


MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], object]] = {
    "no limits": lambda d: _container(_worker(d))["resources"].pop("limits"),
    "no readiness probe": lambda d: _container(_worker(d)).pop("readinessProbe"),
    "as root": lambda d: _worker(d)["spec"]["template"]["spec"]["securityContext"].update(
        runAsUser=0
    ),
    "literal webhook secret": lambda d: _env_list(d).append(
        {"name": "CAREPATH_WEBHOOK_SECRET", "value": "s3cret"}
    ),
    "misspelt setting": lambda d: _env_list(d).append({"name": "CAREPATH_TASK_QEUE", "value": "x"}),
    "development worker": lambda d: _env_list(d).append(
        {"name": "CAREPATH_ENV", "value": "development"}
    ),
    "killed before the grace ends": lambda d: _worker(d)["spec"]["template"]["spec"].update(
        terminationGracePeriodSeconds=30
    ),
    "password in the url": lambda d: by_kind(d, "ConfigMap")["carepath-config"]["data"].update(
        DATABASE_URL="postgresql://carepath:pw@db:5432/carepath"
    ),
    "worker runs the api": lambda d: _container(_worker(d)).update(command=["python", "-m", "api"]),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_checks_catch_mistakes(mutation: str) -> None:
    docs = copy.deepcopy(load())
    MUTATIONS[mutation](docs)
    assert check(docs), mutation


def test_schema_validation_catches_a_malformed_manifest() -> None:
    doc = copy.deepcopy(by_kind(load(), "Deployment")["carepath-api"])
    doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
