"""The playbooks section at load: hooks in their short and long forms, every mistake named by its
key path, hook secrets resolved but hidden, programs found from the config's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

import dr.log
from dr.config import parse_config
from dr.config.playbooks import PLAYBOOK_NAMES, PlaybookSettings, When
from dr.config.schema import Settings
from dr.errors import ConfigError
from dr.log import redact_text

CLUSTERS = """\
clusters:
  primary: {bootstrap_servers: "kafka-1.prod:9092"}
  dr: {bootstrap_servers: "kafka-1.dr:9092"}
"""


@pytest.fixture(autouse=True)
def _no_secrets_from_other_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dr.log, "_known_secrets", set())


def parse(playbooks: str, base_dir: Path) -> Settings:
    text = CLUSTERS + "playbooks:\n" + "".join(f"  {line}\n" for line in playbooks.splitlines())
    return parse_config(text, source="kafka-dr.yaml", base_dir=base_dir)


def failover(playbooks: str, base_dir: Path) -> PlaybookSettings:
    return parse(playbooks, base_dir).playbooks["failover"]


def refused(playbooks: str, base_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse(playbooks, base_dir)
    return raised.value.problems


def test_a_hook_written_as_a_list_is_its_command_with_the_defaults(tmp_path: Path) -> None:
    playbook = failover(
        "failover:\n  hooks:\n    switch_clients:\n      after: [[switch-dns.sh, --zone, x]]",
        tmp_path,
    )

    (hook,) = playbook.hooks["switch_clients"].after
    assert hook.command == ["switch-dns.sh", "--zone", "x"]
    assert (hook.timeout_s, hook.retries, hook.retry_delay_s) == (60, 0, 5)
    assert hook.on_failure == "abort"
    assert hook.label == "switch-dns.sh"
    assert playbook.hooks["switch_clients"].before == []


def test_a_hook_written_as_a_mapping_takes_every_setting(tmp_path: Path) -> None:
    playbook = failover(
        """failover:
  hooks:
    switch_clients:
      after:
        - command: [/opt/hooks/consul-put.sh, --port, 8500]
          name: consul
          timeout_s: 5.5
          retries: 3
          retry_delay_s: 0
          on_failure: continue
          env: {CONSUL_HTTP_ADDR: "http://consul:8500", DRY: false}""",
        tmp_path,
    )

    (hook,) = playbook.hooks["switch_clients"].after
    assert hook.command == ["/opt/hooks/consul-put.sh", "--port", "8500"]
    assert (hook.label, hook.timeout_s, hook.retries, hook.retry_delay_s) == ("consul", 5.5, 3, 0)
    assert hook.on_failure == "continue"
    assert {k: v.get_secret_value() for k, v in hook.env.items()} == {
        "CONSUL_HTTP_ADDR": "http://consul:8500",
        "DRY": "false",
    }


def test_a_bare_program_name_is_a_command_without_arguments(tmp_path: Path) -> None:
    playbook = failover("failover:\n  hooks:\n    all:\n      before: [notify-chat]", tmp_path)

    assert playbook.hooks["all"].before[0].command == ["notify-chat"]


def test_a_command_written_as_one_string_with_spaces_is_refused_with_the_list_form(
    tmp_path: Path,
) -> None:
    problems = refused(
        "failover:\n  hooks:\n    switch_clients:\n      after: ['switch-dns.sh --zone x']",
        tmp_path,
    )

    assert len(problems) == 1
    assert problems[0].startswith("at 'playbooks.failover.hooks.switch_clients.after[0]': ")
    assert "without a shell" in problems[0]
    assert "[switch-dns.sh, --zone, x]" in problems[0]


def test_a_bad_value_is_reported_with_the_full_key_path(tmp_path: Path) -> None:
    problems = refused(
        "failover:\n  hooks:\n    switch_clients:\n      after: [{command: [a], timeout_s: 0}]",
        tmp_path,
    )

    assert problems == [
        "at 'playbooks.failover.hooks.switch_clients.after[0].timeout_s': "
        "Input should be greater than 0"
    ]


def test_every_mistake_in_the_section_is_reported_at_once(tmp_path: Path) -> None:
    problems = refused(
        """failover:
  hooks:
    Switch-Clients: {after: [[a]]}
    switch_clients:
      before: [{command: [a], retries: -1}, {command: []}, 42]
      after: [{command: [a], on_failure: ignore, shell: true}]
failovr: {}""",
        tmp_path,
    )

    where = [p.split("': ")[0].removeprefix("at '") for p in problems]
    assert where == [
        "playbooks.failover.hooks.Switch-Clients",
        "playbooks.failover.hooks.switch_clients.before[0].retries",
        "playbooks.failover.hooks.switch_clients.before[1].command",
        "playbooks.failover.hooks.switch_clients.before[2]",
        "playbooks.failover.hooks.switch_clients.after[0].on_failure",
        "playbooks.failover.hooks.switch_clients.after[0].shell",
        "playbooks.failovr",
    ]
    assert "is not a step name" in problems[0]
    assert problems[2].endswith("the command is empty: give the program, then its arguments")
    assert problems[5].endswith("unknown key")
    assert problems[6].endswith(f"is not a playbook (one of: {', '.join(PLAYBOOK_NAMES)})")


@pytest.mark.parametrize("playbook", PLAYBOOK_NAMES)
def test_every_listed_playbook_takes_hooks(tmp_path: Path, playbook: str) -> None:
    settings = parse(f"{playbook}:\n  hooks:\n    all:\n      after: [[notify]]", tmp_path)

    assert settings.playbooks[playbook].hooks_for("any_step", "after")[0].command == ["notify"]


@pytest.mark.parametrize("name", ["KAFKA_DR_STEP", "KAFKA_DR_ANYTHING"])
def test_a_hook_cannot_set_the_context_variables_itself(tmp_path: Path, name: str) -> None:
    problems = refused(
        f"failover:\n  hooks:\n    all:\n      after: [{{command: [a], env: {{{name}: x}}}}]",
        tmp_path,
    )

    assert problems == [
        f"at 'playbooks.failover.hooks.all.after[0].env.{name}': '{name}' starts with "
        "KAFKA_DR_, which kafka-dr sets for every hook"
    ]


def test_a_hook_secret_from_a_file_is_resolved_hidden_and_redacted(tmp_path: Path) -> None:
    (tmp_path / "dns-token").write_text("tok-5ecret-from-file\n")

    playbook = failover(
        "failover:\n  hooks:\n    switch_clients:\n      after:\n"
        "        - {command: [a], env: {DNS_API_TOKEN: '${file:dns-token}'}}",
        tmp_path,
    )

    hook = playbook.hooks["switch_clients"].after[0]
    assert hook.env["DNS_API_TOKEN"].get_secret_value() == "tok-5ecret-from-file"
    assert "tok-5ecret" not in repr(playbook)
    assert redact_text("token is tok-5ecret-from-file") == "token is ***"


def test_a_relative_program_path_is_taken_from_the_config_directory(tmp_path: Path) -> None:
    playbook = failover(
        "failover:\n  hooks:\n    all:\n"
        "      before: [[hooks/a.sh, x], [./b.sh], [curl], [/bin/c]]",
        tmp_path,
    )

    assert [h.command[0] for h in playbook.hooks["all"].before] == [
        str(tmp_path / "hooks" / "a.sh"),
        str(tmp_path / "b.sh"),
        "curl",
        "/bin/c",
    ]
    assert playbook.hooks["all"].before[0].command[1:] == ["x"]


def test_hooks_around_every_step_wrap_the_step_own_hooks(tmp_path: Path) -> None:
    playbook = failover(
        """failover:
  hooks:
    all: {before: [[every-before]], after: [[every-after]]}
    switch_clients: {before: [[own-before]], after: [[own-after]]}""",
        tmp_path,
    )

    def names(step: str, when: When) -> list[str]:
        return [hook.label for hook in playbook.hooks_for(step, when)]

    assert names("switch_clients", "before") == ["every-before", "own-before"]
    assert names("switch_clients", "after") == ["own-after", "every-after"]
    assert names("assess", "before") == ["every-before"]


def test_step_names_that_the_playbook_does_not_have_are_listed(tmp_path: Path) -> None:
    playbook = failover(
        "failover:\n  hooks:\n    all: {}\n    switch_clients: {}\n    swich_clients: {}",
        tmp_path,
    )

    assert playbook.unknown_steps(["assess", "switch_clients"]) == ["swich_clients"]


def test_no_playbooks_section_means_no_hooks(tmp_path: Path) -> None:
    settings = parse_config(CLUSTERS, source="kafka-dr.yaml", base_dir=tmp_path)

    assert settings.playbooks == {}
