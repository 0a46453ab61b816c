"""The production stack description (docker-compose.yml, Dockerfile, deploy/), checked without
Docker: fast, offline, against the code's own settings classes and search-attribute keys.

Each `check_*` function returns the problems it finds. `test_stack_is_consistent` asserts the
real files have none; `test_check_catches_mistake` breaks a copy of the files in one way at a
time and asserts the matching check reports it, so no check can pass vacuously.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shlex
import tempfile
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings
from temporalio.common import SearchAttributeIndexedValueType

from api.settings import ApiSettings
from codec.keys import new_key_entry
from codec.settings import CodecSettings
from config.settings import Settings
from worker.adapters import INTEGRATIONS
from workflows.search_attributes import ALL_KEYS

ROOT = Path(__file__).resolve().parent.parent

REQUIRED_SERVICES = (
    "postgresql",
    "temporal",
    "temporal-admin-tools",
    "temporal-ui",
    "worker",
    "api",
    "codec",
)
CAREPATH_COMMANDS = {
    "worker": ["python", "-m", "worker"],
    "api": ["python", "-m", "api"],
    "codec": ["python", "-m", "codec", "serve"],
}
# The settings classes each carepath process reads (the worker and the API also need the codec
# key ring, which lives in CodecSettings).
SERVICE_SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "worker": (Settings, CodecSettings),
    "api": (ApiSettings, CodecSettings),
    "codec": (CodecSettings,),
}
CLI_TYPE_NAMES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}
# Settings fields that hold secrets although their type is not SecretStr.
SECRET_FIELDS = {"api_keys"}
SECRET_NAME = re.compile(r"(PASSWORD|PWD|SECRET)$")
# Settings whose own value is a path to a file of secrets (codec/settings.py).
SECRET_FILE_SETTINGS = {
    "CAREPATH_CODEC_KEY_FILE": "CAREPATH_CODEC_KEYS",
    "CAREPATH_OPERATOR_TOKEN_FILE": "CAREPATH_OPERATOR_TOKENS",
}
# What each service must be given as a secret file (its `<NAME>_FILE`, or the setting above).
REQUIRED_SECRETS = {
    "postgresql": {"POSTGRES_PASSWORD", "CARE_RECORDS_DB_PASSWORD", "TEMPORAL_DB_PASSWORD"},
    "temporal-schema": {"SQL_PASSWORD"},
    "temporal": {"POSTGRES_PWD"},
    "worker": {
        "CAREPATH_DATABASE_PASSWORD",
        "CAREPATH_CODEC_KEYS",
        "CAREPATH_PAYER_API_KEY",
        "CAREPATH_WEBHOOK_SECRET",
    },
    "api": {"CAREPATH_DATABASE_PASSWORD", "CAREPATH_CODEC_KEYS", "CAREPATH_API_KEYS"},
    "codec": {"CAREPATH_CODEC_KEYS", "CAREPATH_OPERATOR_TOKENS", "CAREPATH_CODEC_SESSION_SECRET"},
}
# Images that read these only from a variable: they must start through the wrapper that
# sets it from the file (deploy/temporal/with-secret-files.sh).
WRAPPED = {"temporal", "temporal-schema"}
SECRETS_WRAPPER = "with-secret-files.sh"
# The TLS-terminating proxy: the only service published beyond loopback, on these ports.
EDGE = "caddy"
EDGE_PORTS = {"80", "443", "8443"}


# ---- reading the files --------------------------------------------------------------------


@dataclass
class Stack:
    compose: dict[str, Any]
    dockerfile: str
    dockerignore: str
    env_example: str
    files: dict[str, str]  # other text files under the repository, by relative path

    def read(self, relative: str) -> str | None:
        if relative in self.files:
            return self.files[relative]
        path = ROOT / relative
        return path.read_text(encoding="utf-8") if path.is_file() else None


def load_stack() -> Stack:
    return Stack(
        compose=yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8")),
        dockerfile=(ROOT / "Dockerfile").read_text(encoding="utf-8"),
        dockerignore=(ROOT / ".dockerignore").read_text(encoding="utf-8"),
        env_example=(ROOT / "deploy" / "env.example").read_text(encoding="utf-8"),
        files={},
    )


_REF = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@dataclass(frozen=True)
class Ref:
    name: str
    op: str  # "", ":-", "-", ":?", "?"
    arg: str

    @property
    def required(self) -> bool:
        return self.op in (":?", "?")


def refs(value: str) -> list[Ref]:
    return [
        Ref(m["name"], m["op"] or "", m["arg"] or "") for m in _REF.finditer(value) if m["name"]
    ]


def resolve(value: str, given: dict[str, str] | None = None) -> str:
    """Interpolate as compose does; unset required variables become `<NAME>`."""
    given = given or {}

    def one(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        name, op = m["name"], m["op"] or ""
        if name in given:
            return given[name]
        if op in (":?", "?"):
            return f"<{name}>"
        return m["arg"] if op in (":-", "-") else ""

    return _REF.sub(one, value)


def services(stack: Stack) -> dict[str, dict[str, Any]]:
    found = stack.compose.get("services") or {}
    return found if isinstance(found, dict) else {}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return {str(key): text(value) for key, value in env.items()}


def resolved_env(service: dict[str, Any]) -> dict[str, str]:
    return {key: resolve(value) for key, value in environment(service).items()}


def command(service: dict[str, Any], key: str = "command") -> list[str]:
    value = service.get(key)
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


@dataclass(frozen=True)
class Port:
    host_ip: str
    host_port: str
    container_port: str


def ports(service: dict[str, Any]) -> list[Port]:
    found: list[Port] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            found.append(
                Port(
                    str(entry.get("host_ip", "")),
                    str(entry.get("published", "")),
                    str(entry.get("target", "")),
                )
            )
            continue
        parts = resolve(str(entry)).split("/")[0].split(":")
        if len(parts) == 3:
            found.append(Port(*parts))
        elif len(parts) == 2:
            found.append(Port("", parts[0], parts[1]))
        else:
            found.append(Port("", "", parts[0]))
    return found


def depends_on(service: dict[str, Any]) -> dict[str, str | None]:
    """Dependency → condition (None for the short list form, which waits for nothing)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps)
    return {name: (spec or {}).get("condition") for name, spec in deps.items()}


def env_names(model: type[BaseSettings], *, file_variants: bool = False) -> dict[str, str]:
    """Environment variable name (upper case) → field name, as pydantic-settings reads them
    (and, with `file_variants`, each `<NAME>_FILE` that config/secret_files.py reads)."""
    prefix = str(model.model_config.get("env_prefix") or "")
    names: dict[str, str] = {}
    for field_name, field in model.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            choices = [c for c in alias.choices if isinstance(c, str)]
        elif isinstance(alias, str):
            choices = [alias]
        elif field.alias:
            choices = [field.alias]
        else:
            choices = [prefix + field_name]
        for choice in choices:
            names[choice.upper()] = field_name
            if file_variants:
                names[choice.upper() + "_FILE"] = field_name
    return names


@functools.cache
def secret_env_names() -> frozenset[str]:
    """Names of settings variables that carry secrets (SecretStr fields and SECRET_FIELDS)."""
    found: set[str] = set()
    for model in (Settings, ApiSettings, CodecSettings):
        for env_name, field_name in env_names(model).items():
            field = model.model_fields[field_name]
            annotated = {field.annotation, *typing.get_args(field.annotation)}
            if SecretStr in annotated or field_name in SECRET_FIELDS:
                found.add(env_name)
    return frozenset(found)


def is_secret(name: str) -> bool:
    return name.upper() in secret_env_names() or bool(SECRET_NAME.search(name.upper()))


def container_script(stack: Stack, service: dict[str, Any]) -> tuple[str, str | None]:
    """The script a service runs (its path in the container) and that file's text, found
    through the service's bind mounts."""
    argv = command(service, "entrypoint") + command(service)
    script = next((arg for arg in argv if arg.endswith(".sh")), "")
    for volume in service.get("volumes") or []:
        source, _, rest = str(volume).partition(":")
        target = rest.split(":")[0]
        if source.startswith(".") and script.startswith(target.rstrip("/") + "/"):
            inside = PurePosixPath(script).relative_to(target)
            relative = (PurePosixPath(source) / inside).as_posix().removeprefix("./")
            return script, stack.read(relative)
    return script, None


# ---- checks -------------------------------------------------------------------------------


def check_services(stack: Stack) -> list[str]:
    present = services(stack)
    problems = [f"service {name} is missing" for name in REQUIRED_SERVICES if name not in present]
    for name, service in present.items():
        for dep, condition in depends_on(service).items():
            if dep not in present:
                problems.append(f"{name} depends on unknown service {dep}")
            if condition is None:
                problems.append(f"{name} → {dep}: depends_on without a condition")
    return problems


def check_startup_order(stack: Stack) -> list[str]:
    present = services(stack)
    wanted = {
        "worker": {
            "postgresql": "service_healthy",
            "temporal": "service_healthy",
            "temporal-admin-tools": "service_completed_successfully",
        },
        "api": {
            "postgresql": "service_healthy",
            "temporal": "service_healthy",
            "temporal-admin-tools": "service_completed_successfully",
        },
        "temporal": {"postgresql": "service_healthy"},
        "temporal-admin-tools": {"temporal": "service_healthy"},
        "temporal-ui": {"temporal": "service_healthy"},
    }
    problems: list[str] = []
    for name, deps in wanted.items():
        actual = depends_on(present.get(name, {}))
        for dep, condition in deps.items():
            if actual.get(dep) != condition:
                problems.append(f"{name} must depend on {dep} with condition {condition}")
    for name in ("postgresql", "temporal", "codec"):
        if not (present.get(name, {}).get("healthcheck") or {}).get("test"):
            problems.append(f"{name} needs a healthcheck (others wait on it)")
    return problems


def check_settings_variables(stack: Stack) -> list[str]:
    """Every CAREPATH_* variable set is a field the service's settings classes read."""
    problems: list[str] = []
    for name, service in services(stack).items():
        known: set[str] = set()
        for model in SERVICE_SETTINGS.get(name, ()):
            known |= env_names(model, file_variants=True).keys()
        if name == EDGE:
            continue  # its CAREPATH_* are Caddyfile placeholders: check_edge
        for key in environment(service):
            if key.upper().startswith("CAREPATH_") and key.upper() not in known:
                problems.append(f"{name}: {key} is not a settings field of this service")
        if name in ("worker", "api") and "DATABASE_URL" not in environment(service):
            problems.append(f"{name}: DATABASE_URL is not set (it would embed a PostgreSQL)")
    return problems


# Sample contents for the secret files, by the setting they feed.
SAMPLE_SECRETS = {
    "CAREPATH_CODEC_KEYS": new_key_entry("compose-test"),
    "CAREPATH_API_KEYS": json.dumps(
        {"token-1": {"role": "operator", "programs": ["*"], "actor": "ops-1"}}
    ),
    "CAREPATH_OPERATOR_TOKENS": "operator-token-1",
    "CAREPATH_CODEC_SESSION_SECRET": "session-secret-1",
    "CAREPATH_DATABASE_PASSWORD": "records/password:1",
    "CAREPATH_PAYER_API_KEY": "payer-key-1",
    "CAREPATH_WEBHOOK_SECRET": "webhook-secret-1",
    # Optional patient channels: an empty file is "not configured".
    "CAREPATH_SMTP_URL": "",
    "CAREPATH_SMS_TOKEN": "",
}


def _file_setting(key: str) -> str | None:
    """The setting a `*_FILE` variable feeds, or None for an ordinary variable."""
    if key in SECRET_FILE_SETTINGS:
        return SECRET_FILE_SETTINGS[key]
    return key.removesuffix("_FILE") if key.endswith("_FILE") else None


def check_settings_load(stack: Stack) -> list[str]:
    """The values set (sample secrets in the files they name) load into the settings."""
    problems: list[str] = []
    for name, models in SERVICE_SETTINGS.items():
        service = services(stack).get(name)
        if service is None:
            continue
        folder = Path(tempfile.mkdtemp(prefix="compose-secrets-"))
        values = {}
        for key, value in environment(service).items():
            setting = _file_setting(key)
            if setting in SAMPLE_SECRETS and value.startswith("/run/secrets/"):
                sample = folder / PurePosixPath(value).name
                sample.write_text(SAMPLE_SECRETS[setting] + "\n", encoding="utf-8")
                value = str(sample)
            values[key] = resolve(value)
        with mock.patch.dict(os.environ, values, clear=True):
            for model in models:
                try:
                    loaded = model()
                except Exception as err:
                    problems.append(f"{name}: {model.__name__} rejects its environment: {err}")
                    continue
                if isinstance(loaded, CodecSettings) and name == "codec":
                    try:
                        loaded.keyring()
                    except Exception as err:
                        problems.append(f"codec: no usable key ring: {err}")
                    if not loaded.operator_token_values():
                        problems.append("codec: no operator tokens (it would exit at start)")
                if isinstance(loaded, Settings) and name in ("worker", "api"):
                    password = unquote(urlsplit(loaded.database_url or "").password or "")
                    if password != SAMPLE_SECRETS["CAREPATH_DATABASE_PASSWORD"]:
                        problems.append(f"{name}: the records password does not reach the URL")
    return problems


def _build_context(service: dict[str, Any]) -> tuple[Path, str] | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return (ROOT / build).resolve(), "Dockerfile"
    return (ROOT / build.get("context", ".")).resolve(), build.get("dockerfile", "Dockerfile")


def check_carepath_image(stack: Stack) -> list[str]:
    problems: list[str] = []
    present = services(stack)
    images = set()
    for name, argv in CAREPATH_COMMANDS.items():
        service = present.get(name, {})
        if _build_context(service) != (ROOT, "Dockerfile"):
            problems.append(f"{name} is not built from ./Dockerfile")
        images.add(service.get("image"))
        if command(service) != argv:
            problems.append(f"{name} runs {command(service)}, wants {argv}")
        if command(service, "entrypoint"):
            problems.append(f"{name} overrides the image's entrypoint")
    if len(images) != 1 or None in images:
        problems.append(f"worker, api and codec must share one image name, have {images}")
    # The image's healthcheck probes the API; the others must not inherit it.
    worker_check = present.get("worker", {}).get("healthcheck") or {}
    if not worker_check.get("disable") and "/healthz" in json.dumps(worker_check.get("test")):
        problems.append("worker inherits or copies an HTTP healthcheck, but serves no HTTP")
    if not worker_check:
        problems.append("worker must disable the image's API healthcheck")
    codec_env = resolved_env(present.get("codec", {}))
    codec_test = json.dumps((present.get("codec", {}).get("healthcheck") or {}).get("test"))
    codec_port = codec_env.get("CAREPATH_CODEC_PORT", "8081")
    if f":{codec_port}/healthz" not in codec_test:
        problems.append(f"codec healthcheck must probe /healthz on port {codec_port}")
    api_check = present.get("api", {}).get("healthcheck")
    if api_check is not None and "/healthz" not in json.dumps(api_check):
        problems.append("api overrides the image's /healthz healthcheck")
    return problems


def check_search_attributes(stack: Stack) -> list[str]:
    """temporal-admin-tools registers exactly ALL_KEYS, by name and type, in the namespace the
    worker and the API use."""
    problems: list[str] = []
    tools = services(stack).get("temporal-admin-tools", {})
    env = resolved_env(tools)
    pairs = dict(pair.split("=", 1) for pair in env.get("SEARCH_ATTRIBUTES", "").split())
    wanted = {key.name: CLI_TYPE_NAMES[key.indexed_value_type] for key in ALL_KEYS}
    if pairs != wanted:
        problems.append(f"registers {pairs}, workflows/search_attributes.py has {wanted}")
    for name in ("worker", "api"):
        namespace = resolved_env(services(stack).get(name, {})).get("CAREPATH_TEMPORAL_NAMESPACE")
        if env.get("NAMESPACE") != namespace:
            problems.append(f"attributes go to {env.get('NAMESPACE')}, {name} uses {namespace}")
    script, text = container_script(stack, tools)
    if text is None:
        problems.append(f"temporal-admin-tools runs {script or 'no script'}, not found in deploy/")
    elif not ("search-attribute create" in text and re.search(r"\$\{?SEARCH_ATTRIBUTES\b", text)):
        problems.append(f"{script} does not create the SEARCH_ATTRIBUTES it is given")
    return problems


def _records_database(stack: Stack) -> tuple[str, str]:
    url = resolve(environment(services(stack).get("worker", {})).get("DATABASE_URL", ""))
    parts = urlsplit(url)
    return parts.path.lstrip("/"), parts.username or ""


def check_temporal_persistence(stack: Stack) -> list[str]:
    """Temporal on PostgreSQL, in its own databases under its own role."""
    problems: list[str] = []
    present = services(stack)
    temporal = present.get("temporal", {})
    image = str(temporal.get("image", ""))
    if not image.startswith(("temporalio/server:", "temporalio/auto-setup:")):
        problems.append(f"temporal image {image} is not temporalio/server or auto-setup")
    env = resolved_env(temporal)
    if env.get("DB") not in ("postgres12", "postgres12_pgx"):
        problems.append(f"temporal persistence DB={env.get('DB')}, wants PostgreSQL (postgres12)")
    if env.get("POSTGRES_SEEDS") != "postgresql":
        problems.append("temporal must use the postgresql service (POSTGRES_SEEDS)")
    records_db, records_user = _records_database(stack)
    temporal_dbs = {
        env.get("DBNAME", "temporal"),
        env.get("VISIBILITY_DBNAME", "temporal_visibility"),
    }
    if records_db in temporal_dbs or len(temporal_dbs) != 2:
        problems.append(f"temporal databases {temporal_dbs} must differ from records {records_db}")
    if env.get("POSTGRES_USER") in (records_user, "", None):
        problems.append("temporal must connect as its own role, not the care-records one")
    schema = present.get("temporal-schema")
    if schema is not None:
        schema_env = resolved_env(schema)
        pairs = [("DBNAME", "temporal"), ("VISIBILITY_DBNAME", "temporal_visibility")]
        for key, default in pairs:
            if schema_env.get(key, default) != env.get(key, default):
                problems.append(f"temporal-schema sets up {key} other than the server's")
    init = "\n".join(
        stack.read(f"deploy/postgres/initdb/{p.name}") or ""
        for p in sorted((ROOT / "deploy" / "postgres" / "initdb").glob("*"))
    )
    for db in sorted({records_db, *temporal_dbs}):
        if not re.search(rf"CREATE DATABASE {re.escape(db)}\b", init):
            problems.append(f"deploy/postgres/initdb does not create database {db}")
    for role in sorted({records_user, env.get("POSTGRES_USER", "")} - {""}):
        if not re.search(rf"CREATE ROLE {re.escape(role)}\b", init):
            problems.append(f"deploy/postgres/initdb does not create role {role}")
    return problems


def check_postgresql(stack: Stack) -> list[str]:
    problems: list[str] = []
    pg = services(stack).get("postgresql", {})
    if not str(pg.get("image", "")).startswith("postgres:16"):
        problems.append(f"postgresql image {pg.get('image')} is not postgres:16")
    volumes = [str(v) for v in pg.get("volumes") or []]
    data = [v for v in volumes if v.split(":")[1:2] == ["/var/lib/postgresql/data"]]
    declared = stack.compose.get("volumes") or {}
    if not data or data[0].split(":")[0] not in declared:
        problems.append("postgresql data needs a named volume at /var/lib/postgresql/data")
    if "pg_isready" not in json.dumps((pg.get("healthcheck") or {}).get("test")):
        problems.append("postgresql healthcheck must run pg_isready")
    if pg.get("ports"):
        problems.append("postgresql must not be published outside the compose network")
    return problems


def check_published_ports(stack: Stack) -> list[str]:
    """Only the TLS proxy faces the network, on its web ports; the rest is loopback."""
    return [
        f"{name} publishes {port.host_port} on {port.host_ip or 'every interface'}"
        for name, service in services(stack).items()
        for port in ports(service)
        if port.host_ip != "127.0.0.1"
        and not (
            name == EDGE and port.host_port in EDGE_PORTS and port.container_port in EDGE_PORTS
        )
    ]


def check_edge(stack: Stack) -> list[str]:
    """The proxy routes each site to the service and port that serves it, shares the UI's
    host name with the codec's, and guards the UI with the codec session."""
    problems: list[str] = []
    present = services(stack)
    edge = present.get(EDGE)
    if edge is None:
        return [f"no {EDGE} service (TLS in front of the API, the codec server and the UI)"]
    env = resolved_env(edge)
    caddyfile = stack.read("deploy/caddy/Caddyfile") or ""
    if not any(str(v).startswith("./deploy/caddy/Caddyfile:") for v in edge.get("volumes") or []):
        problems.append("caddy must mount deploy/caddy/Caddyfile")
    for key in env:
        if key.startswith(("CAREPATH_", "CADDY_")) and "{$" + key not in caddyfile:
            problems.append(f"caddy is given {key}, which the Caddyfile does not read")

    def port_of(service: str, key: str, default: str) -> str:
        return resolved_env(present.get(service, {})).get(key, default)

    wanted = {
        "CAREPATH_API_UPSTREAM": f"api:{port_of('api', 'CAREPATH_API_PORT', '8000')}",
        "CAREPATH_CODEC_UPSTREAM": f"codec:{port_of('codec', 'CAREPATH_CODEC_PORT', '8081')}",
        "CAREPATH_UI_UPSTREAM": f"temporal-ui:{port_of('temporal-ui', 'TEMPORAL_UI_PORT', '8080')}",
    }
    for key, target in wanted.items():
        if env.get(key) != target:
            problems.append(f"caddy {key}={env.get(key)!r}, the service listens at {target}")
    for key in ("CAREPATH_API_SITE", "CAREPATH_UI_SITE", "CAREPATH_CODEC_SITE"):
        if key not in env:
            problems.append(f"caddy needs {key}")
    if not re.search(r"forward_auth[^\n]*\{\s*uri /session", caddyfile):
        problems.append("the Web UI's site must check the codec session (forward_auth /session)")
    if "respond @metrics 404" not in caddyfile:
        problems.append("the proxy must not route /metrics")
    return problems


def _mounted(service: dict[str, Any]) -> set[str]:
    return {
        str(entry if isinstance(entry, str) else entry.get("source"))
        for entry in service.get("secrets") or []
    }


def _check_service_secrets(
    name: str, service: dict[str, Any], declared: dict[str, Any]
) -> list[str]:
    """One service: secrets only as mounted `_FILE`s, the required ones all given."""
    problems: list[str] = []
    given: set[str] = set()
    for key, value in environment(service).items():
        setting = _file_setting(key)
        if setting is None:
            if is_secret(key) and value:
                problems.append(f"{name}: {key} is a secret in the environment; use {key}_FILE")
            if key.upper() == "DATABASE_URL" and urlsplit(resolve(value)).password:
                problems.append(f"{name}: DATABASE_URL carries a password")
            continue
        secret = value.removeprefix("/run/secrets/")
        if not value.startswith("/run/secrets/") or secret not in declared:
            problems.append(f"{name}: {key}={value} is not a declared compose secret")
        elif secret not in _mounted(service):
            problems.append(f"{name}: {key} names secret {secret}, not mounted (secrets:)")
        else:
            given.add(setting)
    for wanted in sorted(REQUIRED_SECRETS.get(name, set()) - given):
        problems.append(f"{name}: {wanted} must come from a secret file")
    if name in WRAPPED and SECRETS_WRAPPER not in json.dumps(command(service, "entrypoint")):
        problems.append(f"{name} must start through {SECRETS_WRAPPER} (reads *_FILE)")
    return problems


def check_secrets(stack: Stack) -> list[str]:
    """Every key, token and password is a compose secret file named by a `_FILE` variable:
    none in an environment value, none with a default, all under ./secrets (ignored)."""
    problems: list[str] = []
    declared = stack.compose.get("secrets") or {}
    for secret, spec in declared.items():
        source = str((spec or {}).get("file", ""))
        if not source.startswith("./secrets/"):
            problems.append(f"secret {secret} must be a file under ./secrets/, is {source!r}")
    for name, service in services(stack).items():
        problems += _check_service_secrets(name, service, declared)
    init = "\n".join(
        stack.read(f"deploy/postgres/initdb/{p.name}") or ""
        for p in sorted((ROOT / "deploy" / "postgres" / "initdb").glob("*"))
    )
    if "_FILE" not in init:
        problems.append("deploy/postgres/initdb must read the passwords' *_FILE variants")
    maker = stack.read("deploy/make-secrets.sh") or ""
    for secret, spec in declared.items():
        if f"put {PurePosixPath(str((spec or {}).get('file', ''))).name} " not in maker:
            problems.append(f"deploy/make-secrets.sh does not write secret {secret}")
    for var in sorted(
        ref.name
        for service in services(stack).values()
        for value in environment(service).values()
        for ref in refs(value)
        if is_secret(ref.name)
    ):
        problems.append(f"secret {var} is taken from the environment")
    example = stack.env_example
    for line in example.splitlines():
        key, sep, _value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and is_secret(key.strip()):
            problems.append(f"deploy/env.example lists secret {key.strip()}: it belongs in a file")
    ignored = {line.strip().rstrip("/") for line in stack.dockerignore.splitlines()}
    for path in (".env", "secrets"):
        if path not in ignored:
            problems.append(f".dockerignore must keep {path} out of the build context")
    gitignored = {line.strip().rstrip("/") for line in (stack.read(".gitignore") or "").split()}
    if "secrets" not in gitignored:
        problems.append(".gitignore must ignore secrets/")
    return problems


def _url_port(url: str) -> str:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return str(parts.port or default_port or "")


def check_ui_codec(stack: Stack) -> list[str]:
    """The Web UI's codec endpoint is the codec service's browser-facing URL, and the codec
    server admits the UI's browser-facing origin."""
    problems: list[str] = []
    present = services(stack)
    ui, codec = present.get("temporal-ui", {}), present.get("codec", {})
    ui_env, codec_env = resolved_env(ui), resolved_env(codec)
    endpoint = ui_env.get("TEMPORAL_CODEC_ENDPOINT", "")
    origin = codec_env.get("CAREPATH_CODEC_UI_ORIGIN", "")
    codec_port = codec_env.get("CAREPATH_CODEC_PORT", "8081")
    codec_published = {p.host_port for p in ports(codec) if p.container_port == codec_port}
    if _url_port(endpoint) not in codec_published:
        problems.append(
            f"TEMPORAL_CODEC_ENDPOINT {endpoint!r} is not where codec (port {codec_port}) "
            f"is published {sorted(codec_published)}"
        )
    ui_port = ui_env.get("TEMPORAL_UI_PORT", "8080")
    ui_published = {p.host_port for p in ports(ui) if p.container_port == ui_port}
    if _url_port(origin) not in ui_published:
        problems.append(f"CAREPATH_CODEC_UI_ORIGIN {origin!r} is not the UI's published port")
    if urlsplit(endpoint).hostname != urlsplit(origin).hostname:
        problems.append("UI and codec URLs need the same host name (SameSite=Lax session cookie)")
    if ui_env.get("TEMPORAL_CODEC_INCLUDE_CREDENTIALS") != "true":
        problems.append("TEMPORAL_CODEC_INCLUDE_CREDENTIALS must be true (codec session cookie)")
    worker_address = resolved_env(present.get("worker", {})).get("CAREPATH_TEMPORAL_ADDRESS")
    if ui_env.get("TEMPORAL_ADDRESS") != worker_address:
        problems.append("the UI and the worker must talk to the same Temporal frontend")
    return problems


def check_integrations(stack: Stack) -> list[str]:
    """The worker runs as production and passes every integration setting through, and
    env.example lists them: an unset one must reach the fail-closed check, not vanish."""
    problems: list[str] = []
    env = environment(services(stack).get("worker", {}))
    if env.get("CAREPATH_ENV", "production") != "production":
        problems.append(f"worker runs with CAREPATH_ENV={env.get('CAREPATH_ENV')}")
    listed = stack.env_example
    for integration in INTEGRATIONS:
        for field_name in integration.needs:
            var = f"CAREPATH_{field_name.upper()}"
            if not any(key in (var, f"{var}_FILE") for key in env):
                problems.append(f"worker does not pass {var} ({integration.port})")
        url_var = f"CAREPATH_{integration.needs[0].upper()}"
        if url_var not in listed:
            problems.append(f"deploy/env.example does not mention {url_var}")
        choice = f"CAREPATH_{integration.choice_field.upper()}"
        if choice in env and resolve(env[choice]) not in ("", integration.real):
            problems.append(f"worker chooses {choice}={resolve(env[choice])} in compose")
    return problems


def _seconds(value: Any) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", str(value or "10s").strip())
    if not match:
        return 0.0
    return float(match[1]) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[match[2]]


def check_shutdown_and_scale(stack: Stack) -> list[str]:
    """Limits on every long-running service; worker replicas that can stop gracefully."""
    problems: list[str] = []
    for name, service in services(stack).items():
        if str(service.get("restart", "")).startswith("on-failure"):
            continue  # one-shot setup jobs
        limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if not (limits.get("cpus") and limits.get("memory")):
            problems.append(f"{name} has no cpus/memory limits")
    worker = services(stack).get("worker", {})
    if worker.get("container_name") or ports(worker):
        problems.append("worker replicas cannot share a container_name or published ports")
    if int((worker.get("deploy") or {}).get("replicas") or 1) < 2:
        problems.append("run at least two worker replicas on the task queue")
    grace = float(resolved_env(worker).get("CAREPATH_GRACEFUL_SHUTDOWN_SECONDS") or 0)
    if grace <= 0:
        problems.append("worker needs CAREPATH_GRACEFUL_SHUTDOWN_SECONDS > 0")
    if grace >= _seconds(worker.get("stop_grace_period")):
        problems.append(
            f"worker graceful shutdown {grace} s must end before stop_grace_period "
            f"{worker.get('stop_grace_period', '10s')} (else it is killed mid-activity)"
        )
    return problems


def check_backups(stack: Stack) -> list[str]:
    """A backup service dumps every database (records and both of Temporal's) with the
    script tests/deploy/test_backup_restore.py runs, keeps a bounded number of sets."""
    problems: list[str] = []
    backup = services(stack).get("backup")
    if backup is None:
        return ["no backup service"]
    env = resolved_env(backup)
    records_db, _ = _records_database(stack)
    temporal = resolved_env(services(stack).get("temporal", {}))
    wanted = {
        records_db,
        temporal.get("DBNAME", "temporal"),
        temporal.get("VISIBILITY_DBNAME", "temporal_visibility"),
    }
    dumped = set(env.get("BACKUP_DATABASES", "").split())
    if not wanted <= dumped:
        problems.append(f"backup dumps {sorted(dumped)}, needs {sorted(wanted)}")
    if not env.get("BACKUP_KEEP", "").isdigit() or int(env["BACKUP_KEEP"]) < 1:
        problems.append("backup needs a retention (BACKUP_KEEP >= 1)")
    argv = command(backup, "entrypoint") + command(backup)
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in backup.get("volumes") or []}
    for script in ("every.sh", "pg-backup.sh"):
        path = next((a for a in argv if a.endswith("/" + script)), None)
        source = mounts.get(str(PurePosixPath(path).parent)) if path else None
        if source is None or stack.read(f"{source.removeprefix('./')}/{script}") is None:
            problems.append(f"backup does not run deploy/backup/{script}")
    if env.get("BACKUP_DIR") != "/backups" or mounts.get("/backups") not in (
        stack.compose.get("volumes") or {}
    ):
        problems.append("backup sets must go to a named volume at BACKUP_DIR=/backups")
    if env.get("PGHOST") != "postgresql" or "PGPASSWORD_FILE" not in env:
        problems.append("backup must reach postgresql with the superuser's secret file")
    return problems


def check_monitoring(stack: Stack) -> list[str]:
    """Prometheus and Grafana only in the `monitoring` profile; Prometheus scrapes every
    worker replica where the worker serves its metrics, and the API's /metrics."""
    problems: list[str] = []
    present = services(stack)
    for name in ("prometheus", "grafana"):
        if (present.get(name) or {}).get("profiles") != ["monitoring"]:
            problems.append(f"{name} must be in the monitoring profile only (off by default)")
    config = yaml.safe_load(stack.read("deploy/monitoring/prometheus.yml") or "{}") or {}
    jobs = {job.get("job_name"): job for job in config.get("scrape_configs") or []}
    worker_address = resolved_env(present.get("worker", {})).get("CAREPATH_METRICS_ADDRESS", "")
    worker_port = worker_address.rsplit(":", 1)[-1]
    dns = (jobs.get("carepath-worker") or {}).get("dns_sd_configs") or [{}]
    if dns[0].get("names") != ["worker"] or str(dns[0].get("port")) != worker_port:
        problems.append(f"prometheus must find every worker replica on port {worker_port!r}")
    api_port = resolved_env(present.get("api", {})).get("CAREPATH_API_PORT", "8000")
    static = (jobs.get("carepath-api") or {}).get("static_configs") or [{}]
    if static[0].get("targets") != [f"api:{api_port}"]:
        problems.append(f"prometheus must scrape api:{api_port}")
    mounts = [str(v) for v in (present.get("prometheus") or {}).get("volumes") or []]
    for rule_file in config.get("rule_files") or []:
        if not any(m.split(":")[1:2] == [rule_file] for m in mounts):
            problems.append(f"prometheus rule file {rule_file} is not mounted")
    dashboard = json.loads(stack.read("deploy/monitoring/grafana/dashboards/carepath.json") or "{}")
    sources = yaml.safe_load(
        stack.read("deploy/monitoring/grafana/provisioning/datasources/prometheus.yml") or "{}"
    )
    uids = {s.get("uid") for s in (sources or {}).get("datasources") or []}
    for panel in dashboard.get("panels") or []:
        if (panel.get("datasource") or {}).get("uid") not in uids:
            problems.append(f"dashboard panel {panel.get('title')!r}: unknown datasource")
    if not dashboard.get("panels"):
        problems.append("the Grafana dashboard has no panels")
    return problems


def check_task_queue(stack: Stack) -> list[str]:
    problems: list[str] = []
    default = Settings.model_fields["task_queue"].default
    if default != "care-episodes":
        problems.append(
            f"Settings.task_queue default is {default!r}, the contract says care-episodes"
        )
    for name in ("worker", "api"):
        env = resolved_env(services(stack).get(name, {}))
        if env.get("CAREPATH_TASK_QUEUE") != default:
            problems.append(f"{name} task queue {env.get('CAREPATH_TASK_QUEUE')!r} != {default!r}")
    worker_env = resolved_env(services(stack).get("worker", {}))
    api_env = resolved_env(services(stack).get("api", {}))
    for key in ("CAREPATH_TEMPORAL_ADDRESS", "CAREPATH_TEMPORAL_NAMESPACE"):
        if worker_env.get(key) != api_env.get(key):
            problems.append(f"worker and api disagree on {key}")
    return problems


def dockerfile_instructions(text: str) -> Iterator[tuple[str, str]]:
    logical = ""
    for line in text.splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        logical += line.rstrip()
        if logical.endswith("\\"):
            logical = logical[:-1] + " "
            continue
        instruction, _, args = logical.strip().partition(" ")
        yield instruction.upper(), args.strip()
        logical = ""


def _argv(args: str) -> list[str]:
    if args.startswith("["):
        return [str(part) for part in json.loads(args)]
    return shlex.split(args)


def _dockerfile_stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, args in dockerfile_instructions(dockerfile):
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, args))
    return stages


def _check_pip_installs(stages: list[list[tuple[str, str]]]) -> list[str]:
    """`pip install .` pinned by constraints.txt, no editable install, no extras."""
    problems: list[str] = []
    installs = []
    for stage in stages:
        for instruction, args in stage:
            if instruction != "RUN":
                continue
            for part in re.split(r"&&|;", args):
                argv = shlex.split(part)
                if "pip" in argv and "install" in argv:
                    installs.append(argv[argv.index("install") + 1 :])
    if not any("." in argv for argv in installs):
        problems.append("no `pip install .`")
    for argv in installs:
        if {"-e", "--editable"} & set(argv) or any("[" in arg for arg in argv):
            problems.append(f"pip install {' '.join(argv)}: editable or extras in the image")
        if "." in argv and "constraints.txt" not in argv:
            problems.append("pip install . without -c constraints.txt (what the tests ran on)")
    return problems


def _check_final_stage(final: list[tuple[str, str]]) -> list[str]:
    """Non-root USER before CMD, a HEALTHCHECK on /healthz, the API as CMD, known ENVs."""
    problems: list[str] = []
    users = [args for instruction, args in final if instruction == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage must run as a non-root USER")
    order = [instruction for instruction, _ in final]
    last = {instruction: index for index, instruction in enumerate(order)}
    if "USER" in last and "CMD" in last and last["USER"] > last["CMD"]:
        problems.append("USER must come before CMD")
    healthchecks = [args for instruction, args in final if instruction == "HEALTHCHECK"]
    if not healthchecks or "/healthz" not in healthchecks[-1]:
        problems.append("the image needs a HEALTHCHECK on the API's /healthz")
    cmds = [_argv(args) for instruction, args in final if instruction == "CMD"]
    if not cmds or cmds[-1] != CAREPATH_COMMANDS["api"]:
        problems.append("the image's default CMD must be python -m api (what HEALTHCHECK probes)")
    known: set[str] = set()
    for model in (Settings, ApiSettings, CodecSettings):
        known |= env_names(model).keys()
    for instruction, args in final:
        if instruction == "ENV":
            for key in re.findall(r"(?:^|\s)([A-Za-z_]\w*)=", args):
                if key.startswith("CAREPATH_") and key not in known:
                    problems.append(f"Dockerfile ENV {key} is not a settings field")
    return problems


def check_dockerfile(stack: Stack) -> list[str]:
    stages = _dockerfile_stages(stack.dockerfile)
    if not stages:
        return ["Dockerfile has no FROM"]
    problems: list[str] = []
    for stage in stages:
        base = stage[0][1].split()[0]
        # A digest pin (python:3.11-slim@sha256:...) fixes the exact image; a tag alone moves.
        if not re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]{64})?", base):
            problems.append(f"stage FROM {base}, wants python:3.11-slim (optionally @sha256:)")
    problems += _check_pip_installs(stages)
    problems += _check_final_stage(stages[-1])
    ignored = {line.strip().rstrip("/") for line in stack.dockerignore.splitlines()}
    for path in (".venv", "data", ".git", "tests"):
        if path not in ignored:
            problems.append(f".dockerignore should exclude {path}")
    return problems


CHECKS: dict[str, Callable[[Stack], list[str]]] = {
    "services": check_services,
    "startup_order": check_startup_order,
    "settings_variables": check_settings_variables,
    "settings_load": check_settings_load,
    "carepath_image": check_carepath_image,
    "search_attributes": check_search_attributes,
    "temporal_persistence": check_temporal_persistence,
    "postgresql": check_postgresql,
    "published_ports": check_published_ports,
    "edge": check_edge,
    "secrets": check_secrets,
    "ui_codec": check_ui_codec,
    "integrations": check_integrations,
    "backups": check_backups,
    "monitoring": check_monitoring,
    "shutdown_and_scale": check_shutdown_and_scale,
    "task_queue": check_task_queue,
    "dockerfile": check_dockerfile,
}


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack()


@pytest.mark.parametrize("check", list(CHECKS))
def test_stack_is_consistent(stack: Stack, check: str) -> None:
    assert CHECKS[check](stack) == []


# ---- every check can fail -----------------------------------------------------------------


def _svc(stack: Stack, name: str) -> dict[str, Any]:
    service: dict[str, Any] = stack.compose["services"][name]
    return service


def _env(stack: Stack, name: str) -> dict[str, Any]:
    env: dict[str, Any] = _svc(stack, name)["environment"]
    return env


def _drop_ui(s: Stack) -> None:
    del s.compose["services"]["temporal-ui"]


def _short_depends(s: Stack) -> None:
    _svc(s, "worker")["depends_on"] = ["postgresql", "temporal"]


def _api_waits_for_nothing(s: Stack) -> None:
    _svc(s, "api")["depends_on"]["temporal-admin-tools"] = {"condition": "service_started"}


def _unknown_setting(s: Stack) -> None:
    _env(s, "worker")["CAREPATH_TASK_QEUE"] = "care-episodes"


def _api_key_on_codec(s: Stack) -> None:
    _env(s, "codec")["CAREPATH_API_KEYS_FILE"] = "/run/secrets/api_keys"


def _no_database_url(s: Stack) -> None:
    del _env(s, "api")["DATABASE_URL"]


def _bad_port(s: Stack) -> None:
    _env(s, "api")["CAREPATH_API_PORT"] = "eighty"


def _no_operator_tokens(s: Stack) -> None:
    del _env(s, "codec")["CAREPATH_OPERATOR_TOKEN_FILE"]


def _worker_runs_api(s: Stack) -> None:
    _svc(s, "worker")["command"] = ["python", "-m", "api"]


def _codec_without_serve(s: Stack) -> None:
    _svc(s, "codec")["command"] = "python -m codec"


def _api_other_image(s: Stack) -> None:
    _svc(s, "api")["image"] = "carepath-api:local"
    _svc(s, "api")["build"] = {"context": "./api"}


def _worker_inherits_api_check(s: Stack) -> None:
    del _svc(s, "worker")["healthcheck"]


def _codec_probes_api_port(s: Stack) -> None:
    _svc(s, "codec")["healthcheck"]["test"] = ["CMD", "curl", "http://127.0.0.1:8000/healthz"]


def _missing_attribute(s: Stack) -> None:
    _env(s, "temporal-admin-tools")["SEARCH_ATTRIBUTES"] = "CarePhase=Keyword RiskFlag=Bool"


def _wrong_attribute_type(s: Stack) -> None:
    _env(s, "temporal-admin-tools")["SEARCH_ATTRIBUTES"] = (
        "CarePhase=Keyword LevelOfCare=Keyword ProgramId=Keyword ReviewDueAt=Keyword RiskFlag=Bool"
    )


def _attributes_other_namespace(s: Stack) -> None:
    _env(s, "temporal-admin-tools")["NAMESPACE"] = "default"


def _script_ignores_attributes(s: Stack) -> None:
    s.files["deploy/temporal/setup-namespace.sh"] = "#!/bin/sh\necho nothing to do\n"


def _temporal_on_records_db(s: Stack) -> None:
    _env(s, "temporal")["DBNAME"] = "carepath"
    _env(s, "temporal-schema")["DBNAME"] = "carepath"


def _temporal_as_records_role(s: Stack) -> None:
    _env(s, "temporal")["POSTGRES_USER"] = "carepath"


def _temporal_on_sqlite(s: Stack) -> None:
    _env(s, "temporal")["DB"] = "sqlite"


def _postgres_15(s: Stack) -> None:
    _svc(s, "postgresql")["image"] = "postgres:15"


def _postgres_no_volume(s: Stack) -> None:
    _svc(s, "postgresql")["volumes"] = ["./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro"]


def _postgres_published(s: Stack) -> None:
    _svc(s, "postgresql")["ports"] = ["127.0.0.1:5432:5432"]


def _api_on_all_interfaces(s: Stack) -> None:
    _svc(s, "api")["ports"] = ["8000:8000"]


def _literal_api_keys(s: Stack) -> None:
    del _env(s, "api")["CAREPATH_API_KEYS_FILE"]
    _env(s, "api")["CAREPATH_API_KEYS"] = '{"tok": {"role": "operator", "programs": ["*"]}}'


def _secret_from_environment(s: Stack) -> None:
    del _env(s, "codec")["CAREPATH_CODEC_SESSION_SECRET_FILE"]
    _env(s, "codec")["CAREPATH_CODEC_SESSION_SECRET"] = "${CAREPATH_CODEC_SESSION_SECRET:?set}"


def _literal_db_password(s: Stack) -> None:
    _env(s, "worker")["DATABASE_URL"] = "postgresql://carepath:hunter2@postgresql:5432/carepath"


def _literal_postgres_password(s: Stack) -> None:
    del _env(s, "postgresql")["POSTGRES_PASSWORD_FILE"]
    _env(s, "postgresql")["POSTGRES_PASSWORD"] = "postgres"


def _secret_in_env_example(s: Stack) -> None:
    s.env_example += "\nCAREPATH_WEBHOOK_SECRET=\n"


def _secret_not_mounted(s: Stack) -> None:
    _svc(s, "worker")["secrets"].remove("webhook_secret")


def _secret_outside_secrets_dir(s: Stack) -> None:
    s.compose["secrets"]["codec_keys"] = {"file": "./codec.keys"}


def _temporal_password_in_env(s: Stack) -> None:
    del _env(s, "temporal")["POSTGRES_PWD_FILE"]
    _env(s, "temporal")["POSTGRES_PWD"] = "${TEMPORAL_DB_PASSWORD:?set it}"


def _temporal_without_wrapper(s: Stack) -> None:
    del _svc(s, "temporal")["entrypoint"]


def _secret_not_written(s: Stack) -> None:
    s.files["deploy/make-secrets.sh"] = "#!/bin/sh\nput codec_keys x\n"


def _init_ignores_files(s: Stack) -> None:
    s.files["deploy/postgres/initdb/10-carepath-databases.sh"] = "psql -c 'CREATE ROLE x'\n"


def _ui_codec_in_network_name(s: Stack) -> None:
    _env(s, "temporal-ui")["TEMPORAL_CODEC_ENDPOINT"] = "http://codec:9999"


def _ui_without_credentials(s: Stack) -> None:
    del _env(s, "temporal-ui")["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"]


def _codec_wrong_origin(s: Stack) -> None:
    _env(s, "codec")["CAREPATH_CODEC_UI_ORIGIN"] = "http://localhost:8233"


def _worker_in_development(s: Stack) -> None:
    _env(s, "worker")["CAREPATH_ENV"] = "development"


def _worker_without_payer_url(s: Stack) -> None:
    del _env(s, "worker")["CAREPATH_PAYER_URL"]


def _worker_sandbox_payer(s: Stack) -> None:
    _env(s, "worker")["CAREPATH_PAYER"] = "sandbox"


def _env_example_without_webhook(s: Stack) -> None:
    s.env_example = s.env_example.replace("CAREPATH_WEBHOOK_URL", "CAREPATH_HOOK")


def _no_backup(s: Stack) -> None:
    del s.compose["services"]["backup"]


def _backup_misses_visibility(s: Stack) -> None:
    _env(s, "backup")["BACKUP_DATABASES"] = "carepath temporal"


def _backup_keeps_nothing(s: Stack) -> None:
    _env(s, "backup")["BACKUP_KEEP"] = "0"


def _backup_into_the_container(s: Stack) -> None:
    _svc(s, "backup")["volumes"] = ["./deploy/backup:/carepath-backup:ro"]


def _backup_script_missing(s: Stack) -> None:
    _svc(s, "backup")["command"] = ["/bin/sh", "/carepath-backup/backup.sh"]


def _monitoring_by_default(s: Stack) -> None:
    del _svc(s, "prometheus")["profiles"]


def _worker_metrics_elsewhere(s: Stack) -> None:
    _env(s, "worker")["CAREPATH_METRICS_ADDRESS"] = "0.0.0.0:9000"


def _dashboard_unknown_source(s: Stack) -> None:
    path = "deploy/monitoring/grafana/dashboards/carepath.json"
    s.files[path] = (ROOT / path).read_text().replace('"carepath-prometheus"', '"other"')


def _caddy_to_wrong_port(s: Stack) -> None:
    _env(s, "caddy")["CAREPATH_API_UPSTREAM"] = "api:9000"


def _ui_without_sign_in(s: Stack) -> None:
    s.files["deploy/caddy/Caddyfile"] = re.sub(
        r"forward_auth.*?\n\t\}\n", "", (ROOT / "deploy/caddy/Caddyfile").read_text(), flags=re.S
    )


def _caddy_on_another_port(s: Stack) -> None:
    _svc(s, "caddy")["ports"].append("5432:5432")


def _no_proxy(s: Stack) -> None:
    del s.compose["services"]["caddy"]


def _api_without_limits(s: Stack) -> None:
    del _svc(s, "api")["deploy"]


def _one_worker(s: Stack) -> None:
    _svc(s, "worker")["deploy"]["replicas"] = 1


def _worker_named(s: Stack) -> None:
    _svc(s, "worker")["container_name"] = "carepath-worker"


def _grace_longer_than_compose_waits(s: Stack) -> None:
    _svc(s, "worker")["stop_grace_period"] = "30s"


def _no_grace(s: Stack) -> None:
    del _env(s, "worker")["CAREPATH_GRACEFUL_SHUTDOWN_SECONDS"]


def _other_task_queue(s: Stack) -> None:
    _env(s, "worker")["CAREPATH_TASK_QUEUE"] = "care-episodes-v2"


def _api_other_namespace(s: Stack) -> None:
    _env(s, "api")["CAREPATH_TEMPORAL_NAMESPACE"] = "default"


def _dockerfile(old: str, new: str) -> Callable[[Stack], None]:
    def mutate(s: Stack) -> None:
        assert old in s.dockerfile, old
        s.dockerfile = s.dockerfile.replace(old, new)

    return mutate


MUTATIONS: dict[str, tuple[str, Callable[[Stack], None]]] = {
    "no temporal-ui": ("services", _drop_ui),
    "depends_on without condition": ("services", _short_depends),
    "api starts before search attributes": ("startup_order", _api_waits_for_nothing),
    "misspelt setting": ("settings_variables", _unknown_setting),
    "api setting on codec": ("settings_variables", _api_key_on_codec),
    "api without DATABASE_URL": ("settings_variables", _no_database_url),
    "unparseable port": ("settings_load", _bad_port),
    "codec without operator tokens": ("settings_load", _no_operator_tokens),
    "worker runs the api": ("carepath_image", _worker_runs_api),
    "codec without serve": ("carepath_image", _codec_without_serve),
    "api from another image": ("carepath_image", _api_other_image),
    "worker inherits /healthz check": ("carepath_image", _worker_inherits_api_check),
    "codec probes the api port": ("carepath_image", _codec_probes_api_port),
    "attribute missing": ("search_attributes", _missing_attribute),
    "attribute type wrong": ("search_attributes", _wrong_attribute_type),
    "attributes in another namespace": ("search_attributes", _attributes_other_namespace),
    "script ignores attributes": ("search_attributes", _script_ignores_attributes),
    "temporal in the records database": ("temporal_persistence", _temporal_on_records_db),
    "temporal as the records role": ("temporal_persistence", _temporal_as_records_role),
    "temporal not on postgres": ("temporal_persistence", _temporal_on_sqlite),
    "postgres 15": ("postgresql", _postgres_15),
    "postgres without data volume": ("postgresql", _postgres_no_volume),
    "postgres published": ("postgresql", _postgres_published),
    "api on every interface": ("published_ports", _api_on_all_interfaces),
    "literal api keys": ("secrets", _literal_api_keys),
    "secret from the environment": ("secrets", _secret_from_environment),
    "literal database password": ("secrets", _literal_db_password),
    "literal postgres password": ("secrets", _literal_postgres_password),
    "secret in env.example": ("secrets", _secret_in_env_example),
    "secret not mounted": ("secrets", _secret_not_mounted),
    "secret file outside ./secrets": ("secrets", _secret_outside_secrets_dir),
    "temporal password in env": ("secrets", _temporal_password_in_env),
    "temporal without the wrapper": ("secrets", _temporal_without_wrapper),
    "make-secrets misses one": ("secrets", _secret_not_written),
    "initdb ignores files": ("secrets", _init_ignores_files),
    "codec endpoint not published": ("ui_codec", _ui_codec_in_network_name),
    "ui without credentials": ("ui_codec", _ui_without_credentials),
    "codec admits another origin": ("ui_codec", _codec_wrong_origin),
    "worker in development mode": ("integrations", _worker_in_development),
    "worker drops the payer URL": ("integrations", _worker_without_payer_url),
    "compose chooses the sandbox payer": ("integrations", _worker_sandbox_payer),
    "env.example without webhook": ("integrations", _env_example_without_webhook),
    "no backup service": ("backups", _no_backup),
    "backup misses visibility db": ("backups", _backup_misses_visibility),
    "backup keeps nothing": ("backups", _backup_keeps_nothing),
    "backups inside the container": ("backups", _backup_into_the_container),
    "backup script missing": ("backups", _backup_script_missing),
    "monitoring on by default": ("monitoring", _monitoring_by_default),
    "worker metrics on another port": ("monitoring", _worker_metrics_elsewhere),
    "dashboard on an unknown datasource": ("monitoring", _dashboard_unknown_source),
    "proxy to the wrong api port": ("edge", _caddy_to_wrong_port),
    "ui without sign-in": ("edge", _ui_without_sign_in),
    "no proxy": ("edge", _no_proxy),
    "proxy publishes a database port": ("published_ports", _caddy_on_another_port),
    "api without limits": ("shutdown_and_scale", _api_without_limits),
    "one worker": ("shutdown_and_scale", _one_worker),
    "worker with a container name": ("shutdown_and_scale", _worker_named),
    "killed before the grace period ends": ("shutdown_and_scale", _grace_longer_than_compose_waits),
    "worker without grace": ("shutdown_and_scale", _no_grace),
    "other task queue": ("task_queue", _other_task_queue),
    "api in another namespace": ("task_queue", _api_other_namespace),
    "dockerfile editable install": (
        "dockerfile",
        _dockerfile("-c constraints.txt .", "-c constraints.txt -e ."),
    ),
    "dockerfile dev extras": (
        "dockerfile",
        _dockerfile("-c constraints.txt .", "-c constraints.txt '.[dev]'"),
    ),
    "dockerfile unpinned install": (
        "dockerfile",
        _dockerfile("pip install --no-cache-dir -c constraints.txt .", "pip install ."),
    ),
    "dockerfile as root": ("dockerfile", _dockerfile("USER 10001:10001", "USER root")),
    "dockerfile without user": ("dockerfile", _dockerfile("USER 10001:10001", "")),
    "dockerfile other base": (
        "dockerfile",
        _dockerfile("FROM python:3.11-slim AS runtime", "FROM python:3.12 AS runtime"),
    ),
    "dockerfile malformed digest": (
        "dockerfile",
        _dockerfile(
            "FROM python:3.11-slim AS runtime", "FROM python:3.11-slim@sha256:abc AS runtime"
        ),
    ),
    "dockerfile unknown env": (
        "dockerfile",
        _dockerfile("CAREPATH_DATA_DIR=", "CAREPATH_DATADIR="),
    ),
    "dockerfile without healthcheck": ("dockerfile", _dockerfile("/healthz", "/")),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_check_catches_mistake(stack: Stack, mutation: str) -> None:
    check, mutate = MUTATIONS[mutation]
    broken = replace(stack, compose=copy.deepcopy(stack.compose), files={})
    mutate(broken)
    assert CHECKS[check](broken), f"check_{check} missed: {mutation}"


def test_digest_pinned_base_image_is_accepted(stack: Stack) -> None:
    pinned = "python:3.11-slim@sha256:" + "0123456789abcdef" * 4
    dockerfile = stack.dockerfile.replace("FROM python:3.11-slim ", f"FROM {pinned} ")
    assert pinned in dockerfile
    assert check_dockerfile(replace(stack, dockerfile=dockerfile)) == []


def test_every_check_has_a_mistake_it_catches() -> None:
    assert {check for check, _ in MUTATIONS.values()} == set(CHECKS)


def test_interpolation_reads_like_compose() -> None:
    assert resolve("${A:-x}/${B:?set B}/$${C}/${D}") == "x/<B>/${C}/"
    assert [ref.required for ref in refs("${A:?a} ${B:-b} ${C}")] == [True, False, False]
