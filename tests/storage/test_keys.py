"""Object keys: relative paths that can never leave the store's root or prefix."""

from __future__ import annotations

import re

import pytest

from dr.errors import DrError
from dr.storage import ObjectNotFound, StorageError, check_key, check_prefix


@pytest.mark.parametrize(
    "key",
    ["a", "orders/data/0/000.seg", ".hidden", "a.b/c..d", "...", "ünïcode/ключ", "a b/c"],
)
def test_a_valid_key_is_returned_unchanged(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("a\\b", "backslash"),
        ("..\\windows", "backslash"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("./a", "'.' segment"),
        ("a/./b", "'.' segment"),
        ("..", "'..' segment"),
        ("../outside", "'..' segment"),
        ("a/../../b", "'..' segment"),
        ("a/..", "'..' segment"),
        ("a\nb", "control character"),
        ("a\x00b", "control character"),
    ],
)
def test_a_key_that_could_escape_is_refused_naming_the_key_and_why(key: str, reason: str) -> None:
    with pytest.raises(StorageError) as caught:
        check_key(key)

    message = str(caught.value)
    assert message.startswith(f"invalid object key {key!r}: ")
    assert reason in message
    assert "\n" not in message


@pytest.mark.parametrize("prefix", ["", "orders", "orders/", "orders/data/0/", "orders/da"])
def test_a_list_prefix_may_be_empty_or_end_with_a_slash(prefix: str) -> None:
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "a//", "../", "/abs/", "a/../b/", "a\\b/"])
def test_a_list_prefix_that_could_escape_is_refused(prefix: str) -> None:
    with pytest.raises(StorageError, match=re.escape(f"invalid key prefix {prefix!r}")):
        check_prefix(prefix)


def test_a_missing_object_error_names_the_key_and_the_store() -> None:
    error = ObjectNotFound("orders/data/0/000.seg", "s3://bucket/prefix")

    assert str(error) == "object 'orders/data/0/000.seg' not found in s3://bucket/prefix"
    assert isinstance(error, StorageError) and isinstance(error, DrError)
    assert error.exit_code == 2
