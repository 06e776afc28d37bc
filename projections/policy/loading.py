"""Policy loading: read a policy file, check a decoded document, build a valid Policy."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from eventlog.config_text import ConfigBoundsError, check_depth, read_bounded, too_deep
from projections.errors import Diagnostic, PolicyError
from projections.policy.checks import semantic_diagnostics
from projections.policy.diagnostics import section_diagnostics
from projections.policy.examples import example_path
from projections.policy.models import Policy


def check_policy(data: Any) -> list[Diagnostic]:
    """Every error and warning of a decoded policy document; never raises on user input."""
    if not isinstance(data, dict):
        return [Diagnostic("INVALID_POLICY", "error", "policy",
                           f"a policy is a JSON object, got {_json_kind(data)}; "
                           "start from {} (the default policy) or an example "
                           "(`convlog policy examples`)")]
    diagnostics: list[Diagnostic] = []
    valid_sections: dict[str, Any] = {}
    for key, value in data.items():
        section_errors = section_diagnostics(key, value)
        diagnostics.extend(section_errors)
        if not section_errors:
            valid_sections[key] = value
    policy = Policy.model_validate(valid_sections)
    diagnostics.extend(semantic_diagnostics(policy))
    return diagnostics


def errors_of(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


def load_policy(source: str | Path | Mapping[str, Any]) -> Policy:
    """A policy from a JSON file path or a decoded dict; raises PolicyError when invalid."""
    data = read_policy_file(source) if isinstance(source, str | Path) else dict(source)
    diagnostics = check_policy(data)
    errors = errors_of(diagnostics)
    if errors:
        listing = "; ".join(str(d) for d in errors)
        raise PolicyError(f"the policy has {len(errors)} error(s): {listing}", diagnostics)
    return Policy.model_validate(data)


def read_policy_file(path: str | Path) -> Any:
    """The decoded JSON of a policy file, or of a shipped example (`example:NAME`);
    PolicyError with a code when unreadable."""
    try:
        example = example_path(str(path)) if isinstance(path, str) else None
    except FileNotFoundError as missing:
        raise _file_error("POLICY_NOT_FOUND", str(path), str(missing)) from None
    file = example or Path(path)
    try:
        text = read_bounded(file)
        check_depth(text)
    except ConfigBoundsError as error:
        raise _file_error(error.code, str(file), f"{file}: {error}") from None
    except FileNotFoundError:
        raise _file_error("POLICY_NOT_FOUND", str(file),
                          f"no policy file at {file}; check the path, or use a shipped "
                          "example as example:NAME (`convlog policy examples`)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _file_error("POLICY_UNREADABLE", str(file),
                          f"cannot read {file} ({error}); make it a readable UTF-8 file") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise _file_error("CONFIG_TOO_DEEP", str(file), f"{file}: {too_deep()}") from None
    except json.JSONDecodeError as error:
        raise _file_error("POLICY_NOT_JSON", f"{file}:{error.lineno}:{error.colno}",
                          f"{file} is not valid JSON ({error.msg} at line {error.lineno}, "
                          f"column {error.colno}); fix the syntax") from None


def _file_error(code: str, path: str, message: str) -> PolicyError:
    return PolicyError(message, [Diagnostic(code, "error", path, message)], code=code)


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)
