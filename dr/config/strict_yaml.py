"""YAML as the config loader reads it: safe, and refusing a key given twice in one mapping.

PyYAML keeps the last of two equal keys without a word. In a config that silently drops what
the first one said: a rotation that wrote the new key under the old id loses the key that
opens the older backups, a second cluster named like the first replaces it.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader whose mappings refuse a key written twice (merge keys, ``<<``, may still be
    overridden by the mapping's own keys, as YAML says)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                line = first_line.setdefault(key, key_node.start_mark.line)
            except TypeError:  # an unhashable key: SafeLoader's own error names it
                break
            if line != key_node.start_mark.line:
                raise ConstructorError(
                    None,
                    None,
                    f"key '{key}' is given twice in one mapping (first on line {line + 1}): "
                    "YAML would keep only the last",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """The document in text, as yaml.safe_load reads it; raises yaml.YAMLError, also for a
    key given twice in one mapping."""
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: plain types only
