"""A key written twice in one mapping of the config is an error naming its line, not the
silent loss of the first (YAML keeps the last)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dr.config import parse_config
from dr.config.strict_yaml import load_yaml
from dr.errors import ConfigError

ROTATED_BY_MISTAKE = """\
clusters:
  primary:
    bootstrap_servers: kafka-1.prod:9092
storage:
  lab:
    url: file:///var/lib/kafka-dr
    encryption:
      current: k1
      keys:
        k1: ${file:k1.key}
        k1: ${file:k2.key}
"""


def test_an_encryption_key_id_given_twice_is_refused_naming_its_lines(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(ROTATED_BY_MISTAKE, source="kafka-dr.yaml", base_dir=tmp_path)

    assert caught.value.problems == [
        "line 11, column 9: key 'k1' is given twice in one mapping (first on line 10): "
        "YAML would keep only the last"
    ]


def test_a_section_given_twice_is_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="key 'clusters' is given twice"):
        load_yaml("clusters: {}\nstorage: {}\nclusters: {a: 1}\n")


def test_the_same_key_in_two_mappings_and_a_merge_override_are_fine() -> None:
    text = "a: &base {x: 1, y: 2}\nb:\n  <<: *base\n  x: 3\nc: {x: 4}\n"

    assert load_yaml(text) == {"a": {"x": 1, "y": 2}, "b": {"x": 3, "y": 2}, "c": {"x": 4}}


def test_an_empty_document_is_none() -> None:
    assert load_yaml("") is None
