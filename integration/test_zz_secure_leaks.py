"""No secret leaks: every command of the CLI, run with --log-level debug against the secure
lab, and the daemon through a cycle with a failing job (a traceback in its log), never show a
secret value — SCRAM passwords, the backup encryption key, S3 secret keys, the drill signing
key — in stdout, stderr, logs, the state database, the store's objects, any process's command
line (the Java tools, MirrorMaker), temporary files, or the daemon's /metrics and /healthz.

Runs after the session lab is down, on the secure lab (marked lab_teardown).
"""

from __future__ import annotations

import base64
import itertools
import os
import secrets
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import click
import pytest
import yaml

from dr.cli import cli
from dr.lab.security import USERS, lab_secrets
from dr.lab.traffic import create_topic, produce_records
from integration.conftest import RunningLab, wait_until
from integration.s3server import S3Server

pytestmark = pytest.mark.lab_teardown

# Commands not run here, and why: the lab's own tool (it holds every secret by design and is
# not kafka-dr's product), and what would stop the lab the other tests share.
NOT_RUN = {
    "lab": "the lab tool itself (its status, apps and mirror status are run)",
    "daemon": "run separately below, for a cycle",
}


class Secrets:
    """Every secret value the config holds, and where to look for them."""

    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values

    def found_in(self, data: bytes) -> list[str]:
        return [name for name, value in self.values.items() if value in data]


class CmdlineWatch:
    """Samples every process's command line and TMPDIR's files while the commands run."""

    def __init__(self, found: Secrets, tmpdir: Path) -> None:
        self.found, self.tmpdir = found, tmpdir
        self.leaks: list[str] = []
        self.loose: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CmdlineWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    cmdline = (proc / "cmdline").read_bytes()
                except OSError:
                    continue
                for name in self.found.found_in(cmdline):
                    self.leaks.append(f"{name} in the command line of pid {proc.name}: "
                                      f"{cmdline[:120]!r}")  # fmt: skip
            for path in self.tmpdir.rglob("*"):
                try:
                    if path.is_file() and self.found.found_in(path.read_bytes()):
                        mode = stat.S_IMODE(path.stat().st_mode)
                        if mode & 0o077:
                            self.loose.append(f"{path} holds a secret with mode {oct(mode)}")
                except OSError:
                    continue
            time.sleep(0.02)


def leaf_commands() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)

    def walk(cmd: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, (*path, name))
        if not isinstance(cmd, click.Group) or cmd.invoke_without_command:
            yield path

    return list(walk(cli, ()))


@pytest.fixture(scope="module")
def leak_setup(
    secure_lab: RunningLab, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Secrets, dict[str, Any]]:
    """The secure lab's config plus an encrypted local store, an S3 store with its own keys
    and a signed drill; the secret values to look for."""
    home = tmp_path_factory.mktemp("leaks")
    apps = secure_lab.client("lab-apps")  # records of its own for the demo job to back up
    create_topic(secure_lab.bootstrap("primary"), "demo.leaks", partitions=2, client=apps)
    produce_records(secure_lab.bootstrap("primary"), "demo.leaks", 200, client=apps)
    keys = home / "keys"
    keys.mkdir(mode=0o700)
    key = base64.b64encode(secrets.token_bytes(32))
    (keys / "backup.key").write_bytes(key + b"\n")
    os.chmod(keys / "backup.key", 0o600)
    s3_secret = "s3-" + secrets.token_urlsafe(24)
    (keys / "s3.secret").write_text(s3_secret)
    os.chmod(keys / "s3.secret", 0o600)
    signing = keys / "signing.pem"
    env = {**os.environ, "TMPDIR": str(home)}
    proc = subprocess.run([sys.executable, "-m", "dr", "drill", "keygen", "--out", str(signing)],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    pem_body = b"".join(
        line for line in signing.read_bytes().splitlines() if not line.startswith(b"-----")
    )

    config = yaml.safe_load(secure_lab.config.read_text())
    config["storage"]["sealed"] = {
        "url": (home / "sealed").as_uri(),
        "encryption": {"current": "k1", "keys": {"k1": f"${{file:{keys / 'backup.key'}}}"}},
    }
    s3 = s3_server.settings(f"leaks/{secrets.token_hex(4)}")
    config["storage"]["s3"] = {
        "url": s3.url,
        "endpoint_url": s3.endpoint_url,
        "region": s3.region,
        "access_key_id": "kafka-dr-leak-test",
        "secret_access_key": f"${{file:{keys / 's3.secret'}}}",
        "retry_deadline_s": 5,
    }
    demo = config["backups"]["demo"]
    config["backups"]["sealed"] = {**demo, "storage": "sealed", "schedule": "*/2 * * * * *"}
    config["backups"]["s3"] = {**demo, "storage": "s3"}
    config["drills"]["lab"]["signing_key"] = f"${{file:{signing}}}"
    config["drills"]["lab"]["report_dir"] = str(home / "drills")
    path = home / "kafka-dr.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    lab_dir = secure_lab.lab.dir
    values = {f"password of {u}": lab_secrets(lab_dir).password(u).encode() for u in USERS}
    values["encryption key"] = key
    values["raw encryption key"] = base64.b64decode(key)
    values["S3 secret key"] = s3_secret.encode()
    values["signing key"] = pem_body[24:]  # past the DER header every Ed25519 key shares
    return path, Secrets(values), {"home": home, "s3": s3}


def run(
    config: Path, tmpdir: Path, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[bytes]:
    """The command with --log-level debug, TMPDIR its own directory (tmpdir)."""
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmpdir), "KAFKA_DR_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "dr", "--log-level", "debug", "--config", str(config), *args],
        capture_output=True, env=env, timeout=timeout, check=False,
    )  # fmt: skip


def test_no_command_and_no_daemon_cycle_shows_a_secret_anywhere(
    secure_lab: RunningLab, leak_setup: tuple[Path, Secrets, dict[str, Any]]
) -> None:
    config, found, extra = leak_setup
    home: Path = extra["home"]
    lab_dir = str(secure_lab.lab.dir)
    group = "leak-group"
    runs: list[tuple[str, ...]] = []
    numbers = itertools.count(1)

    def cli_run(*args: str) -> subprocess.CompletedProcess[bytes]:
        runs.append(args)
        tmpdir = home / "tmp" / str(next(numbers))  # its own: commands run side by side
        proc = run(config, tmpdir, *args)
        for stream, data in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            leaked = found.found_in(data)
            assert not leaked, f"'{' '.join(args)}' printed the {leaked} on {stream}"
        leftovers = [p for p in tmpdir.rglob("*") if p.is_file()
                     and found.found_in(p.read_bytes())]  # fmt: skip
        assert not leftovers, f"'{' '.join(args)}' left secrets in temp files: {leftovers}"
        return proc

    with CmdlineWatch(found, home / "tmp") as watch:
        backups: dict[str, str] = {}
        for job in ("demo", "sealed", "s3"):
            proc = cli_run("backup", "run", job, "--json")
            assert proc.returncode == 0, proc.stderr.decode()[-500:]
            backups[job] = yaml.safe_load(proc.stdout)["backup_id"]
        # The daemon runs its cycles while the other commands run.
        daemon = daemon_cycle(config, found, home)
        next(daemon)
        try:
            commands = (
                ("acls", "plan"), ("acls", "plan", "--json"), ("status",), ("status", "--json"),
                ("check",), ("check", "--json"), ("config", "validate", str(config)),
                ("config", "example"), ("backup", "list"), ("backup", "show", backups["sealed"]),
                ("backup", "verify", backups["sealed"]),
                ("backup", "verify", "--deep", backups["sealed"]),
                ("backup", "verify", backups["s3"]), ("backup", "prune", "sealed", "--dry-run"),
                ("restore", backups["sealed"], "--to", "primary", "--rename",
                 f"demo.leaks=demo.leak-{secrets.token_hex(3)}", "--topics", "demo.leaks", "--yes"),
                ("mirror", "render"), ("mirror", "status"), ("mirror", "apply", "--dry-run"),
                ("mirror", "pause"), ("mirror", "resume"),
                ("offsets", "translate", "--group", group, "--from", "primary", "--to", "dr"),
                ("rpo", "status"), ("rpo", "history"), ("playbook", "list"),
                ("playbook", "show", "no-such-run"), ("playbook", "resume", "no-such-run", "--yes"),
                ("failover", "--from", "primary", "--to", "dr", "--dry-run"),
                ("failback", "--from", "dr", "--to", "primary", "--dry-run"),
                ("cutover", "--from", "primary", "--to", "dr", "--dry-run"),
                ("cutover", "rollback", "no-such-run", "--dry-run"),
                ("broker", "restart", "--cluster", "primary", "--dry-run"),
                ("broker", "replace", "--cluster", "primary", "--broker", "1", "--dry-run"),
                ("broker", "add", "--cluster", "primary", "--broker", "7", "--dry-run"),
                ("broker", "remove", "--cluster", "primary", "--broker", "1", "--dry-run"),
                ("reassign", "status", "--cluster", "primary"),
                ("reassign", "cancel", "--cluster", "primary", "--dry-run"),
                ("snapshot", "run", "--cluster", "primary", "--dry-run"),
                ("snapshot", "list", "--cluster", "primary"),
                ("snapshot", "show", "no-such-snapshot", "--cluster", "primary"),
                ("snapshot", "verify", "no-such-snapshot", "--cluster", "primary"),
                ("snapshot", "restore", "no-such-snapshot", "--cluster", "primary", "--dry-run"),
                ("snapshot", "prune", "--cluster", "primary", "--dry-run"),
                ("drill", "run", "lab", "--json"), ("drill", "list"),
                ("drill", "keygen", "--out", str(home / "another.pem")),
                ("lab", "status", "--dir", lab_dir), ("lab", "app", "list", "--dir", lab_dir),
                ("lab", "mirror", "status", "--dir", lab_dir),
                ("mirror", "restart", "--yes"),
            )  # fmt: skip
            # Side by side (what the commands wait on is Kafka, MirrorMaker and the JVM tools);
            # `mirror restart` last, as it makes MirrorMaker's readers wait.
            *together, restart = commands
            with ThreadPoolExecutor(max_workers=4) as pool:
                for future in [pool.submit(cli_run, *args) for args in together]:
                    future.result()
            cli_run(*restart)
            drills = sorted((home / "drills").glob("drill-*.json"))
            assert drills, "the drill wrote no report"
            drill_id = drills[-1].stem.removeprefix("drill-")
            cli_run("drill", "show", drill_id)
            cli_run("drill", "verify-report", str(drills[-1]))
            next(daemon, None)
        finally:
            daemon.close()  # stopped when a step failed

    assert not watch.leaks, watch.leaks[:3]
    assert not watch.loose, watch.loose[:3]
    groups = {c[0] for c in leaf_commands() if len(c) > 1}
    ran = {args[:2] if args[0] in groups else args[:1] for args in runs}
    ran |= {("cutover",), ("daemon",)}
    missing = [c for c in leaf_commands() if c[0] not in NOT_RUN and c[:2] not in ran
               and c[:1] not in ran]  # fmt: skip
    assert not missing, f"commands the leak test does not run: {missing}"

    # What kafka-dr keeps: its state database, its stores, its reports.
    state = Path(yaml.safe_load(config.read_text())["state"])
    kept = [*state.parent.glob(state.name + "*"), *(home / "sealed").rglob("*"),
            *(home / "drills").rglob("*"), *(secure_lab.lab.dir / "store").rglob("*")]  # fmt: skip
    for path in kept:
        if path.is_file():
            assert not found.found_in(path.read_bytes()), f"{path} holds a secret"
    s3 = extra["s3"]
    client = boto3.session.Session().client("s3", endpoint_url=s3.endpoint_url,
                                            region_name=s3.region, aws_access_key_id="x",
                                            aws_secret_access_key="y")  # fmt: skip
    bucket, _, prefix = s3.url.removeprefix("s3://").partition("/")
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    assert listed, "the S3 backup wrote nothing"
    for obj in listed:
        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        assert not found.found_in(body), f"s3 object {obj['Key']} holds a secret"
    # The logs MirrorMaker and the brokers write (their configs are theirs to hold).
    for log in secure_lab.lab.dir.rglob("*.log*"):
        assert not found.found_in(log.read_bytes()), f"{log} holds a secret"


def daemon_cycle(config: Path, found: Secrets, home: Path) -> Iterator[None]:
    """The daemon for a few cycles: the 'sealed' job every 2 s, and a job on an S3 store that
    cannot be reached, which fails with a traceback at debug level. Started at the first
    next(), checked and stopped at the second."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    doc = yaml.safe_load(config.read_text())
    doc["storage"]["down"] = {**doc["storage"]["s3"], "endpoint_url": "http://127.0.0.1:9",
                              "retry_deadline_s": 1}  # fmt: skip
    doc["backups"]["broken"] = {**doc["backups"]["demo"], "storage": "down",
                                "schedule": "*/2 * * * * *"}  # fmt: skip
    doc["daemon"] = {"listen": f"127.0.0.1:{port}", "rpo_sample_interval_s": 2}
    path = home / "daemon.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    log_path = home / "daemon.log"
    env = {**os.environ, "TMPDIR": str(home / "tmp")}
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "dr", "--log-level", "debug", "--config", str(path), "daemon"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            yield

            def failed_with_a_traceback() -> bool:
                text = log_path.read_bytes()
                return b"Traceback" in text and b"broken" in text

            wait_until(failed_with_a_traceback, timeout_s=90, what="the broken job to fail")
            for endpoint in ("/metrics", "/healthz"):
                try:
                    body = urllib.request.urlopen(base + endpoint, timeout=10).read()
                except urllib.error.HTTPError as exc:  # /healthz: 503 with a failing job
                    body = exc.read()
                assert not found.found_in(body), f"{endpoint} shows a secret"
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    leaked = found.found_in(log_path.read_bytes())
    assert not leaked, f"the daemon's log shows the {leaked}"
