"""Policy locations: walk the model along a pydantic loc to render a path and list allowed keys."""

from __future__ import annotations

import json
import types
import typing
from typing import Annotated, Any, get_args

from pydantic import BaseModel

from projections.policy.models import Policy

Loc = tuple[int | str, ...]


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional so the walker sees the container or model underneath."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            models = [m for m in members if _is_model(_unwrap(m))]
            annotation = models[0] if models else members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _walk(loc: Loc) -> tuple[str, Any]:
    """Render a location as a readable path and return the type found at its end."""
    current: Any = Policy
    rendered = ""
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if part == "[key]":
            continue
        if _is_model(current) and isinstance(part, str):
            rendered += f".{part}" if rendered else part
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
        elif origin is dict:
            rendered += f"[{json.dumps(part, ensure_ascii=False)}]"
            current = get_args(current)[1]
        elif origin is tuple and isinstance(part, int):
            rendered += f"[{part}]"
            current = get_args(current)[0]
        else:
            rendered += f"[{json.dumps(part, ensure_ascii=False)}]" if rendered else str(part)
            current = None
    return rendered or "policy", current


def render_path(loc: Loc) -> str:
    return _walk(loc)[0]


def allowed_keys(loc: Loc) -> list[str]:
    """The keys of the model at `loc` (empty when it ends at no model)."""
    target = _unwrap(_walk(loc)[1])
    return list(target.model_fields) if _is_model(target) else []
