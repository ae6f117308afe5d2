"""Secret files: found in the config as the loader resolves them, and kept private."""

from __future__ import annotations

from pathlib import Path

from dr.preflight.secrets import secret_checks, secret_file_check, secret_references

CONFIG = """
clusters:
  prod:
    bootstrap_servers: prod:9092
    client:
      sasl.username: kafka-dr
      sasl.password: ${file:secrets/prod.pw}
storage:
  s3:
    url: s3://bucket/prod
    access_key_id: ${env:AWS_KEY}
    secret_access_key: ${file:/etc/kafka-dr/s3.key}
"""


def test_references_are_found_with_their_key_paths_and_files_resolved_like_the_loader(
    tmp_path: Path,
) -> None:
    refs = secret_references(CONFIG, tmp_path)

    assert [(r.key, r.kind, r.target) for r in refs] == [
        ("clusters.prod.client.sasl.password", "file", str(tmp_path / "secrets" / "prod.pw")),
        ("storage.s3.access_key_id", "env", "AWS_KEY"),
        ("storage.s3.secret_access_key", "file", "/etc/kafka-dr/s3.key"),
    ]


def secret(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "prod.pw"
    path.write_text("hunter22\n")
    path.chmod(mode)
    return path


def test_a_secret_file_only_its_owner_can_read_passes(tmp_path: Path) -> None:
    check = secret_file_check(secret(tmp_path, 0o600), ["clusters.prod.client.sasl.password"])

    assert check.status == "ok"
    assert check.detail.startswith("mode 0600")


def test_a_secret_file_others_can_read_is_a_warning_with_the_chmod_to_run(tmp_path: Path) -> None:
    path = secret(tmp_path, 0o644)

    check = secret_file_check(path, ["clusters.prod.client.sasl.password"])

    assert check.status == "warn"
    assert check.detail == "readable by group or others (mode 0644)"
    assert (
        check.hint
        == f"chmod 600 {path} (it holds the secret at clusters.prod.client.sasl.password)"
    )


def test_a_secret_file_its_group_can_read_is_a_warning_too(tmp_path: Path) -> None:
    assert secret_file_check(secret(tmp_path, 0o640), ["k"]).status == "warn"


def test_a_secret_file_others_can_write_is_a_warning(tmp_path: Path) -> None:
    check = secret_file_check(secret(tmp_path, 0o622), ["k"])

    assert check.status == "warn"
    assert "writable" in check.detail


def test_the_config_is_read_again_for_its_references_one_check_per_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    private = tmp_path / "secrets" / "prod.pw"
    private.write_text("pw")
    private.chmod(0o600)
    shared = tmp_path / "s3.key"
    shared.write_text("key")
    shared.chmod(0o644)
    config = tmp_path / "kafka-dr.yaml"
    config.write_text(CONFIG.replace("/etc/kafka-dr/s3.key", str(shared)))

    checks = secret_checks(config)

    assert [(c.name, c.status) for c in checks] == [
        ("secret references", "ok"),
        (f"secret file {private}", "ok"),
        (f"secret file {shared}", "warn"),
    ]
    assert checks[0].detail == "3 resolved at load: 1 from the environment, 2 from 2 files"
