"""Which keys a place in the configuration allows, and the one a misspelt key was meant to be.

A place is a key path as pydantic reports it (``("clusters", "prod", "bootstrap_serverz")``);
the schema's models are walked along it, through mappings, lists, optional values and the
access kinds (whose tag pydantic puts in the path: ``access.ssh.user``).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

# How alike a misspelt key and an allowed one must be to suggest it (difflib's ratio).
SIMILARITY = 0.6


def did_you_mean(root: type[BaseModel], loc: Sequence[Any]) -> str | None:
    """The allowed key closest to the unknown key at the end of loc, None when none is close."""
    if not loc or not isinstance(loc[-1], str):
        return None
    model = model_at(root, loc[:-1])
    if model is None:
        return None
    allowed = [name for name in model.model_fields if name != loc[-1]]
    found = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=SIMILARITY)
    return found[0] if found else None


def model_at(root: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model whose keys are given at loc, or None when loc leads to no model."""
    current: Any = root
    for part in loc:
        current = _inside(current, part)
        if current is None:
            return None
    current = _union_member(current, None)
    return current if _is_model(current) else None


def _inside(annotation: Any, part: Any) -> Any:
    """The type of the value at ``part`` within a value of type annotation."""
    annotation = _plain(annotation)
    if _is_model(annotation):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1]
    if origin is list:
        return get_args(annotation)[0] if isinstance(part, int) else None
    if origin in (Union, types.UnionType):
        return _union_member(annotation, part)
    return None


def _union_member(annotation: Any, tag: Any) -> Any:
    """Within a union: the model that tag names (its ``kind``), or the type of the key tag in
    the union's only model (an optional value); without a tag, the only model."""
    annotation = _plain(annotation)
    if get_origin(annotation) not in (Union, types.UnionType):
        return annotation
    models = list(_models_in(annotation))
    for member in models:
        kind = member.model_fields.get("kind")
        tags = get_args(kind.annotation) if kind is not None else ()
        if kind is not None and get_origin(kind.annotation) is Literal and tag in tags:
            return member
    if len(models) != 1:
        return None
    return models[0] if tag is None else _inside(models[0], tag)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The models of a union, nested unions flattened."""
    for member in get_args(annotation):
        member = _plain(member)
        if get_origin(member) in (Union, types.UnionType):
            yield from _models_in(member)
        elif _is_model(member):
            yield member


def _plain(annotation: Any) -> Any:
    """The annotation without Annotated[...] metadata."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
