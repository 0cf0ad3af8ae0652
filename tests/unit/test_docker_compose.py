"""docker-compose.yaml: valid against the Compose Specification's JSON schema, and meaningful.

No Docker engine runs here, so the file's meaning is checked by reading it: what it references exists,
host ports do not clash, the Airflow services share one configuration, the modules it runs exist.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
SCHEMA_FILE = REPO_ROOT / "tests" / "data" / "compose-spec.json"

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
# Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}; $$ is a literal $.
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str] | None = None) -> Any:
    """Resolve variables as `docker compose config` would with an empty environment (defaults apply)."""
    env = env or {}
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        if name in env and (env[name] or op not in (":-", ":?")):
            return env[name]
        if op in (":?", "?"):
            raise AssertionError(f"${{{name}}} is required but has no value: {arg}")
        return arg if op in (":-", "-") else ""

    parts = value.split("$$")
    return "$".join(_VAR.sub(repl, part) for part in parts)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_interpolate_follows_compose_rules() -> None:
    assert interpolate("${A:-x}") == "x"
    assert interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == ""
    assert interpolate("${A}b$${HOSTNAME}", {"A": "a"}) == "ab${HOSTNAME}"
    with pytest.raises(AssertionError):
        interpolate("${A:?set A}")


def test_schema_file_is_the_compose_spec() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["title"] == "Compose Specification"
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_validates_against_compose_spec(raw: dict[str, Any], compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    for document in (raw, compose):  # as written, and after interpolation
        errors = sorted(validator_cls(schema).iter_errors(document), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_file(raw: dict[str, Any]) -> None:
    # The schema check must be able to fail: an unknown service key and a bad condition are errors.
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    broken = json.loads(json.dumps(raw))
    broken["services"]["postgres"]["no_such_key"] = 1
    broken["services"]["airflow-scheduler"]["depends_on"]["postgres"]["condition"] = "service_ready"
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("no_such_key" in m for m in messages)
    assert any("service_ready" in m for m in messages)


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def test_depends_on_names_existing_services_without_cycles(services: dict[str, dict[str, Any]]) -> None:
    graph = {name: set(_depends_on(svc)) for name, svc in services.items()}
    for name, deps in graph.items():
        assert deps <= set(services), f"{name} depends on unknown services {sorted(deps - set(services))}"
        assert name not in deps, f"{name} depends on itself"
    # Compose refuses cycles: a topological sort must consume every service.
    remaining = dict(graph)
    while remaining:
        ready = [n for n, deps in remaining.items() if not deps & set(remaining)]
        assert ready, f"dependency cycle among {sorted(remaining)}"
        for n in ready:
            del remaining[n]


def test_depends_on_conditions_match_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for dep, spec in _depends_on(svc).items():
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy: no healthcheck"
            if condition == "service_completed_successfully":
                # A one-shot service must not be restarted, or "completed" never comes.
                assert services[dep].get("restart", "no") in ("no", "on-failure"), dep


def test_airflow_components_wait_for_database_init_and_setup(services: dict[str, dict[str, Any]]) -> None:
    for name in AIRFLOW_SERVICES:
        deps = _depends_on(services[name])
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["local-setup"]["condition"] == "service_completed_successfully", name
    assert _depends_on(services["airflow-init"])["postgres"]["condition"] == "service_healthy"
    # Tasks run in the scheduler (LocalExecutor) and wait in the triggerer: both need the emulators up.
    for name in ("airflow-scheduler", "airflow-triggerer"):
        deps = _depends_on(services[name])
        for emulator in ("neptune-emulator", "k8s-emulator"):
            assert deps[emulator]["condition"] == "service_healthy", (name, emulator)


def test_named_volumes_are_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                host = (REPO_ROOT / source).resolve()
                assert host.exists(), f"{name} mounts {source}, which does not exist"
                assert REPO_ROOT in (host, *host.parents), f"{name} mounts {source} from outside the repo"
            else:
                assert source in declared, f"{name} uses volume {source!r}, not declared at the top level"
                used.add(source)
    assert declared == used, f"declared but unused volumes: {sorted(declared - used)}"


def test_env_files_build_context_and_dockerfile_exist(services: dict[str, dict[str, Any]]) -> None:
    built = 0
    for name, svc in services.items():
        env_files = svc.get("env_file", [])
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            path = env_file if isinstance(env_file, str) else env_file["path"]
            assert (REPO_ROOT / path).is_file(), f"{name}: env_file {path} does not exist"
        build = svc.get("build")
        if build is not None:
            context = REPO_ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert (context / dockerfile).is_file(), f"{name}: {dockerfile} missing in {context}"
            built += 1
    assert built >= len(AIRFLOW_SERVICES)


def _host_ports(svc: dict[str, Any]) -> list[tuple[str, int, str]]:
    out = []
    for port in svc.get("ports", []):
        if isinstance(port, dict):
            if "published" in port:
                host_ip = port.get("host_ip", "0.0.0.0")
                out.append((host_ip, int(port["published"]), port.get("protocol", "tcp")))
            continue
        spec, _, protocol = str(port).partition("/")
        parts = spec.split(":")
        if len(parts) == 1:
            continue  # container port only: Docker picks an ephemeral host port
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        published = parts[-2]
        first, _, last = published.partition("-")
        for number in range(int(first), int(last or first) + 1):
            out.append((host_ip, number, protocol or "tcp"))
    return out


def test_host_ports_do_not_clash(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[tuple[int, str], str] = {}
    for name, svc in services.items():
        for _ip, number, protocol in _host_ports(svc):
            key = (number, protocol)
            assert key not in seen, f"host port {number}/{protocol} used by {seen[key]} and {name}"
            seen[key] = name
    assert seen[(8080, "tcp")] == "airflow-apiserver"


def test_only_the_airflow_ui_is_published_and_only_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    published = {name: _host_ports(svc) for name, svc in services.items() if _host_ports(svc)}
    assert set(published) == {"airflow-apiserver"}  # no emulator, no database: they have no authentication
    for name, ports in published.items():
        for host_ip, number, _protocol in ports:
            assert host_ip == "127.0.0.1", f"{name} publishes {number} on {host_ip}"
    # A service publishing a container port alone gets an ephemeral host port on every interface: none may.
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert isinstance(port, dict) or ":" in str(port), f"{name}: {port} is published on 0.0.0.0"


def test_loopback_check_can_fail() -> None:
    assert _host_ports({"ports": ["8080:8080"]}) == [("0.0.0.0", 8080, "tcp")]
    assert _host_ports({"ports": [{"target": 80, "published": 81}]}) == [("0.0.0.0", 81, "tcp")]


def test_no_default_password_but_the_databases_which_init_prints_as_such(raw: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    defaults = {m["name"]: m["arg"] for m in _VAR.finditer(text.replace("$$", "")) if m["op"] in (":-", "-")}
    with_default = {name for name, value in defaults.items() if "PASSWORD" in name and value}
    assert with_default == {"POSTGRES_PASSWORD"}  # the UI password has none: it is generated
    script = raw["services"]["airflow-init"]["command"][-1]
    assert "LOCAL DEFAULT 'airflow'" in script and '"$${POSTGRES_PASSWORD}" = airflow' in script


def _run_init_password_steps(tmp_path: Path, **env: str) -> tuple[str, dict[str, str]]:
    """airflow-init's own script (interpolated as compose does), in a scratch dir instead of /opt/airflow."""
    script = interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))["services"]["airflow-init"]["command"][-1]
    lines = [line for line in script.splitlines() if not line.strip().startswith(("chown", "exec "))]
    script = "\n".join(lines).replace("/opt/airflow", str(tmp_path))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    full_env = {"PATH": path, "_AIRFLOW_WWW_USER_USERNAME": "airflow", "_AIRFLOW_WWW_USER_PASSWORD": "",
                "POSTGRES_PASSWORD": "airflow", **env}  # fmt: skip
    result = subprocess.run(
        ["/bin/bash", "-c", script], env=full_env, capture_output=True, text=True, timeout=60, check=True
    )
    users = json.loads((tmp_path / "secrets" / "simple_auth_manager_passwords.json").read_text())
    return result.stdout + result.stderr, users


def test_init_generates_the_ui_password_and_prints_the_login_at_every_start(tmp_path: Path) -> None:
    output, users = _run_init_password_steps(tmp_path)
    password = users["airflow"]
    assert len(password) >= 16 and password != "airflow"
    assert f"user airflow  password {password}  (generated on first start" in output
    assert "LOCAL DEFAULT 'airflow'" in output
    for key in ("jwt_secret", "api_secret_key", "fernet_key"):  # the keys themselves are never printed
        assert (tmp_path / "secrets" / key).read_text().strip() not in output
    again, users = _run_init_password_steps(tmp_path)  # a restart keeps the password and says it again
    assert users["airflow"] == password and f"password {password}" in again
    chosen, users = _run_init_password_steps(
        tmp_path, _AIRFLOW_WWW_USER_PASSWORD="chosen-by-me", POSTGRES_PASSWORD="db-pw"
    )
    assert users["airflow"] == "chosen-by-me" and "set by _AIRFLOW_WWW_USER_PASSWORD" in chosen
    assert "LOCAL DEFAULT" not in chosen and "db-pw" not in chosen


def test_port_clash_detection_can_fail() -> None:
    assert _host_ports({"ports": ["127.0.0.1:8080:80", "5000-5001:5000-5001/udp", "9000"]}) == [
        ("127.0.0.1", 8080, "tcp"),
        ("0.0.0.0", 5000, "udp"),
        ("0.0.0.0", 5001, "udp"),
    ]


def test_airflow_services_share_one_configuration(raw: dict[str, Any], services: dict[str, Any]) -> None:
    common = interpolate(raw["x-airflow-common"])
    assert common["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    for name, command in {**AIRFLOW_SERVICES, "airflow-init": None}.items():
        svc = services[name]
        assert svc["image"] == common["image"], name
        assert svc["build"] == common["build"], name
        assert svc["volumes"] == common["volumes"], name
        env = svc["environment"]
        # Everything in the anchor, unchanged (airflow-init may add its one-shot variables).
        assert {k: env.get(k) for k in common["environment"]} == common["environment"], name
        if command is not None:
            assert svc["command"] == command, name
            assert env == common["environment"], name
            assert svc["user"] == common["user"], name
    # The one-shot setup and the emulators run from the same image, so they see the same code.
    for name in ("local-setup", "neptune-emulator", "k8s-emulator"):
        assert services[name]["image"] == common["image"], name


# Options Airflow reads per component ([scheduler], [triggerer] or [dag_processor]) falling back to [core].
COMPONENT_OVERRIDES = {"mp_start_method", "mp_forkserver_preload"}
COMPONENTS = {"scheduler", "triggerer", "dag_processor"}


def test_connections_and_config_are_well_formed(raw: dict[str, Any]) -> None:
    env = interpolate(raw["x-airflow-common"])["environment"]
    connections = {k: json.loads(v) for k, v in env.items() if k.startswith("AIRFLOW_CONN_")}
    assert set(connections) == {
        "AIRFLOW_CONN_AWS_DEFAULT",
        "AIRFLOW_CONN_NEPTUNE_DEFAULT",
        "AIRFLOW_CONN_KUBERNETES_DEFAULT",
    }
    assert connections["AIRFLOW_CONN_AWS_DEFAULT"]["extra"]["endpoint_url"] == env["AWS_ENDPOINT_URL"]
    assert connections["AIRFLOW_CONN_NEPTUNE_DEFAULT"]["host"] == "neptune-emulator"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
    # Shared keys come from files airflow-init generates: never a literal key in the compose file.
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert key not in env
        assert env[f"{key}_CMD"].startswith("cat /opt/airflow/secrets/")
    # Every Airflow configuration variable names a real option (a typo would be silently ignored).
    from airflow.configuration import retrieve_configuration_description

    described = retrieve_configuration_description(include_providers=True)
    for name in env:
        match = re.fullmatch(r"AIRFLOW__([A-Z_]+?)__([A-Z0-9_]+?)(_CMD)?", name)
        if match:
            section, option = match.group(1).lower(), match.group(2).lower()
            options = described.get(section, {}).get("options", {})
            if option in COMPONENT_OVERRIDES and section in COMPONENTS:
                # [core] declares these; its description lets each component's section override them.
                assert "per component" in described["core"]["options"][option]["description"] + (
                    described["core"]["options"]["mp_start_method"]["description"]
                ), name
                continue
            assert option in options, f"{name}: Airflow has no option [{section}] {option}"
            if match.group(3):
                assert options[option].get("sensitive"), f"{name}: _CMD only works for sensitive options"


def test_mounted_project_dirs_and_emulator_endpoints(raw: dict[str, Any], services: dict[str, Any]) -> None:
    volumes = interpolate(raw["x-airflow-common"])["volumes"]
    for folder in ("dags", "plugins", "include"):
        assert f"./{folder}:/opt/airflow/{folder}" in volumes
    neptune = services["neptune-emulator"]["entrypoint"]
    assert neptune[:3] == ["python", "-m", "rdfox_local.neptune_emulator"]
    assert neptune[neptune.index("--port") + 1] == "8182"
    assert neptune[neptune.index("--s3-endpoint") + 1] == "http://moto:5000"
    k8s = services["k8s-emulator"]["entrypoint"]
    assert k8s[:3] == ["python", "-m", "rdfox_local.k8s_emulator"]
    assert k8s[k8s.index("--port") + 1] == "6443"
    setup = services["local-setup"]["entrypoint"]
    assert setup[setup.index("--aws-endpoint") + 1] == "http://moto:5000"


def test_modules_the_services_run_exist(services: dict[str, Any]) -> None:
    for name in ("local-setup", "neptune-emulator", "k8s-emulator"):
        entry = services[name]["entrypoint"]
        module = entry[entry.index("-m") + 1]
        path = REPO_ROOT / "include" / Path(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), f"{name}: {module}"


def test_healthchecks_use_the_services_own_ports(services: dict[str, Any]) -> None:
    for name in ("moto", "neptune-emulator", "k8s-emulator", "airflow-apiserver"):
        test = services[name]["healthcheck"]["test"]
        ports = services[name].get("ports") or services[name].get("expose") or []
        container_ports = {str(p).rsplit(":", 1)[-1] for p in ports}
        assert container_ports, name
        text = " ".join(test) if isinstance(test, list) else test
        assert any(port in text for port in container_ports), (name, text)


def test_init_script_generates_keys_without_printing_them(services: dict[str, Any]) -> None:
    script = services["airflow-init"]["command"][-1]
    assert "umask 077" in script
    for key in ("jwt_secret", "api_secret_key", "fernet_key"):
        assert key in script
    # Keys go to files only: no echo/cat of a secret file to the container log.
    for line in script.splitlines():
        words = shlex.split(line, posix=True) if line.strip() and not line.strip().startswith("#") else []
        if words[:1] in (["echo"], ["cat"]):
            raise AssertionError(f"init prints something: {line}")


def test_dockerfile_extends_the_pinned_airflow_image() -> None:
    import importlib.metadata

    text = (REPO_ROOT / "Dockerfile").read_text()
    version = importlib.metadata.version("apache-airflow")
    assert f"ARG AIRFLOW_VERSION={version}" in text
    assert "ARG PYTHON_VERSION=3.11" in text
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in text
    assert "--constraint" in text and "--no-deps ." in text
    for path in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+\S+$", text, flags=re.M):
        for source in path.split():
            assert (REPO_ROOT / source).exists(), f"Dockerfile copies missing {source}"
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_env_example_documents_every_variable(raw: dict[str, Any]) -> None:
    lines = COMPOSE_FILE.read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    names = {m[0] for m in _VAR.findall(text.replace("$$", ""))}
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    assert names <= documented, f"not in .env.example: {sorted(names - documented)}"


def _mounts(svc: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, container path) of a service's volumes, longest container path first."""
    out = []
    for volume in svc.get("volumes", []):
        if isinstance(volume, dict):
            out.append((volume["source"], volume["target"]))
        else:
            source, target = volume.split(":")[:2]
            out.append((source, target))
    return sorted(out, key=lambda m: len(m[1]), reverse=True)


def test_paths_the_services_run_with_exist(services: dict[str, Any]) -> None:
    # Every /opt/airflow/... path in an entrypoint must come from a mount: a bind mount of a repo path that
    # exists, or a named volume (the image creates the mount point; see the Dockerfile).
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    checked = 0
    for name, svc in services.items():
        args = [*(svc.get("entrypoint") or []), *(svc.get("command") or [])]
        for arg in (a for a in args if isinstance(a, str) and a.startswith("/opt/")):
            mount = next(((s, t) for s, t in _mounts(svc) if arg == t or arg.startswith(t + "/")), None)
            assert mount is not None, f"{name}: {arg} is not on any of its volumes"
            source, target = mount
            if source.startswith("."):
                host = REPO_ROOT / source / arg[len(target) :].lstrip("/")
                assert host.exists(), f"{name}: {arg} is {host.relative_to(REPO_ROOT)}, which does not exist"
            else:
                assert target in dockerfile, f"{name}: the image does not create {target} for volume {source}"
            checked += 1
    assert checked >= 3


def test_the_modules_accept_the_arguments_the_services_pass(services: dict[str, Any]) -> None:
    from rdfox_local import compose_setup
    from rdfox_local.k8s_emulator.__main__ import build_parser as k8s_parser
    from rdfox_local.neptune_emulator.__main__ import parse_args as neptune_parse_args

    def args_of(name: str) -> list[str]:
        entry = services[name]["entrypoint"]
        return entry[entry.index("-m") + 2 :]

    setup = compose_setup.build_parser().parse_args(args_of("local-setup"))
    assert setup.sample_dataset == "SAMPLE" and setup.k8s_secrets_dir is not None
    k8s = k8s_parser().parse_args(args_of("k8s-emulator"))
    assert k8s.image_map is None, "the emulator's own image map (the one its tests use)"
    # The emulator reads the secrets local-setup writes: the same named volume, at the same path.
    assert str(k8s.secrets_dir) == str(setup.k8s_secrets_dir)
    shared = {s for s, t in _mounts(services["k8s-emulator"]) if t == str(k8s.secrets_dir)}
    assert shared and shared == {
        s for s, t in _mounts(services["local-setup"]) if t == str(setup.k8s_secrets_dir)
    }
    config = neptune_parse_args(args_of("neptune-emulator"))
    # The emulated cluster has the load role attached that local-setup creates and names in the settings.
    assert config.attached_roles == (compose_setup.LocalStackConfig().neptune_iam_role_arn,)
    # argparse exits on an unknown option: the check above would catch a renamed flag.
    with pytest.raises(SystemExit):
        k8s_parser().parse_args([*args_of("k8s-emulator"), "--no-such-flag"])


def test_init_creates_the_pool_the_dag_uses(services: dict[str, Any]) -> None:
    # A task in a pool that does not exist is never scheduled: airflow-init creates the DAG's pool.
    dag_text = (REPO_ROOT / "dags" / "rdfox_neptune_pipeline.py").read_text()
    pool = re.search(r'^POOL = "([a-z_]+)"', dag_text, re.M)
    assert pool, "the DAG names its pool in POOL"
    script = services["airflow-init"]["command"][-1]
    last = script.strip().splitlines()[-1]
    assert last.startswith("exec /entrypoint bash -c "), "migration (the entrypoint) runs before the pool"
    words = shlex.split(shlex.split(last)[-1])
    assert words[:4] == ["airflow", "pools", "set", pool.group(1)]
    assert int(words[4]) >= 1
    # The pod task defers while its pod runs: the pool must count deferred tasks to limit pods.
    assert "--include-deferred" in words[5:]
