"""The container: the Dockerfile's, compose.yaml's and the Kubernetes example's promises read from the files (fast,
always), and the real stack built and run with podman (minutes: only with THORBOT_CONTAINER_CHECK=1)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in dockerfile.splitlines()
                                           if not line.lstrip().startswith("#")))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages(dockerfile: str) -> dict[str, list[tuple[str, str]]]:
    """Each build stage's instructions, by the stage's name."""
    named: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for word, rest in instructions(dockerfile):
        if word == "FROM":
            current = named.setdefault(rest.split()[-1], [])
        if current is not None:
            current.append((word, rest))
    return named


def locked(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name → (version, hashes) of a hashed lock file."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for block in re.split(r"\n(?=\S)", path.read_text()):
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if match:
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            pins[name] = (match[2], frozenset(re.findall(r"--hash=(sha256:[0-9a-f]+)", block)))
    return pins


DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_the_image_runs_as_a_non_root_user_with_a_healthcheck_on_healthz() -> None:
    image = list(stages(DOCKERFILE).values())[-1]  # the last stage is what `build` makes by default
    users = [rest for word, rest in image if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert users[-1].split(":")[0].isdigit(), "a numeric USER, so Kubernetes' runAsNonRoot can verify it"
    checks = [rest for word, rest in image if word == "HEALTHCHECK"]
    assert len(checks) == 1 and "/healthz" in checks[0] and "urllib" in checks[0], checks
    assert ("ENTRYPOINT", '["thorbot"]') in image and ("CMD", '["serve"]') in image
    assert ("EXPOSE", "3000") in image and ("VOLUME", '["/data"]') in image
    assert any(word == "ENV" and "THORBOT_DATA_DIR=/data" in rest and "PORT=3000" in rest for word, rest in image)


def test_the_image_installs_the_runtime_lock_by_its_hashes_then_thorbot_without_dependencies() -> None:
    runs = [rest for word, rest in stages(DOCKERFILE)["build"] if word == "RUN"]
    locks = [run for run in runs if "-r " in run]
    assert len(locks) == 1 and "--require-hashes" in locks[0] and "requirements-runtime.lock" in locks[0], locks
    assert any("--no-deps" in run and "/src" in run for run in runs)
    first = instructions(DOCKERFILE)[0]
    assert first[0] == "ARG" and first[1] == "BASE=localhost/thorbot-base:bookworm", first
    assert "python3 -m venv /app/.venv" in runs[0], "the venv makes the image independent of the base's pip"


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_dotenv() -> None:
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line[0] == "#"]
    assert ignore[0] == "*", "everything is left out of the context unless named (a .env holds secrets)"
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for word, rest in instructions(DOCKERFILE):
        if word == "COPY" and not rest.startswith("--from"):
            for source in shlex.split(rest)[:-1]:
                assert source in kept, f"COPY {source}: left out of the build context by .dockerignore"
                assert (ROOT / source).exists(), source
    assert ".env" not in kept


def test_the_runtime_lock_is_the_full_locks_runtime_part_with_no_dev_tool() -> None:
    runtime, full = locked(ROOT / "requirements-runtime.lock"), locked(ROOT / "requirements.lock")
    for name, (version, hashes) in runtime.items():
        assert name in full and full[name][0] == version, f"{name}: run scripts/lock (the locks differ)"
        assert hashes and hashes <= full[name][1], f"{name}: hashes differ from requirements.lock"
    heroku = {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
              for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    assert set(runtime) == heroku, "requirements-runtime.lock and requirements.txt pin the same packages"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev = {re.split(r"[<>=\[; ]", spec)[0].lower() for spec in project["optional-dependencies"]["dev"]}
    assert not dev & set(runtime), f"dev tools in the image's lock: {dev & set(runtime)}"


def test_compose_runs_serve_worker_and_redis_with_aof_on_a_named_volume() -> None:
    services = COMPOSE["services"]
    assert {"serve", "worker", "redis"} <= set(services)
    redis = services["redis"]
    command = redis["command"] if isinstance(redis["command"], list) else shlex.split(redis["command"])
    assert "--appendonly" in command and command[command.index("--appendonly") + 1] == "yes", command
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in COMPOSE["volumes"], "Redis's files on a named volume"
    for name, command_word in (("serve", "serve"), ("worker", "worker")):
        service = services[name]
        assert service["command"] == [command_word] and service["env_file"] == ".env"
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["build"]["target"] == "thorbot" and service["image"] == services["serve"]["image"]
    assert services["serve"]["ports"][0].endswith(":3000") and services["serve"]["environment"]["PORT"] == "3000"
    assert services["worker"]["healthcheck"]["test"] == ["NONE"], "the image's HEALTHCHECK probes serve's port"


def test_the_kubernetes_example_probes_readyz_and_healthz_and_runs_workers() -> None:
    text = (ROOT / "docs" / "kubernetes.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    docs = {(d["kind"], d["metadata"]["name"]): d for block in blocks for d in yaml.safe_load_all(block) if d}
    assert {"Secret", "Service"} <= {kind for kind, _ in docs}
    serve = docs[("Deployment", "thorbot-serve")]["spec"]["template"]["spec"]["containers"][0]
    assert serve["args"] == ["serve"] and serve["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert serve["livenessProbe"]["httpGet"]["path"] == "/healthz"
    worker = docs[("Deployment", "thorbot-worker")]["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"] == ["worker"] and worker["envFrom"] == serve["envFrom"]
    assert "kubernetes.md" in (ROOT / "docs" / "operations.md").read_text()


@pytest.mark.timeout(1800)
@pytest.mark.skipif(os.environ.get("THORBOT_CONTAINER_CHECK") != "1",
                    reason="builds images and runs containers with podman (minutes): set THORBOT_CONTAINER_CHECK=1 "
                           "to run scripts/container-check from here")
def test_the_container_stack_answers_health_readiness_and_a_signed_command() -> None:
    done = subprocess.run([str(ROOT / "scripts" / "container-check")], capture_output=True, text=True,
                          timeout=1700, cwd=ROOT)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert "container-check: passed" in done.stdout
