"""The HTTP reference page, written from `openapi.json` at the repository's root.

Every path and method with its summary, parameters, request body and responses, then
every schema the bodies name. The docs' hook (`docs/gen/hooks.py`) serves the result as
`reference/http.md`; run this file to print it: `python docs/gen/http_reference.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")


def _text(text: str | None) -> str:
    """A description (Markdown) as one table cell or paragraph line."""
    text = " ".join((text or "").split())
    return text.replace("|", "\\|").replace("<", "&lt;")


def _schema_anchor(name: str) -> str:
    return "schema-" + name.lower()


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _limits(schema: dict[str, Any]) -> list[str]:
    found = []
    for key, word in (("minimum", "≥"), ("maximum", "≤"), ("minLength", "length ≥"),
                      ("maxLength", "length ≤"), ("minItems", "items ≥"),
                      ("maxItems", "items ≤")):
        if key in schema:
            value = schema[key]
            value = int(value) if isinstance(value, float) and value.is_integer() else value
            if value in (2**63 - 1, float(2**63)):  # bigint's largest, as JSON's floats spell it
                value = "2^63−1"
            found.append(f"{word} {value}")
    return found


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short phrase: `string`, `integer (≥ 0)`, `array of Event`, …"""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#{_schema_anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [_type(part) for part in schema[key]]
            return " or ".join(dict.fromkeys(parts))
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _type(schema["allOf"][0])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        kind = "array of " + _type(schema.get("items", {}))
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        kind = "object of " + _type(schema["additionalProperties"])
    limits = _limits(schema)
    return f"{kind} ({', '.join(limits)})" if limits else kind


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema:
        return ""
    return "`" + json.dumps(schema["default"], ensure_ascii=False) + "`"


def _operation(path: str, method: str, op: dict[str, Any], secured: bool) -> list[str]:
    anchor = (method + path).lower().replace("/", "-").replace("{", "").replace("}", "")
    lines = ["", f"### `{method.upper()} {path}` {{#{anchor}}}", "",
             _text(op.get("summary")) + ("." if op.get("summary") else ""), ""]
    if op.get("description"):
        lines += [_text(op["description"]), ""]
    lines += ["Auth: a bearer token." if secured else "Auth: none.", ""]
    parameters = op.get("parameters", [])
    if parameters:
        lines += ["| parameter | type | default | what |", "| --- | --- | --- | --- |"]
        for p in parameters:
            schema = p.get("schema", {})
            what = p.get("description") or schema.get("description")
            where = p["in"] + (", required" if p.get("required") else "")
            lines.append(f"| `{p['name']}` ({where}) | {_type(schema)} | {_default(schema)} | "
                         f"{_text(what)} |")
        lines.append("")
    body = op.get("requestBody")
    if body:
        lines += ["Request body" + (" (required):" if body.get("required") else ":"), ""]
        for content_type, content in body.get("content", {}).items():
            schema = content.get("schema", {})
            note = _text(schema.get("description"))
            lines.append(f"- `{content_type}`: {_type(schema)}" + (f": {note}" if note else ""))
        lines.append("")
    lines += ["| status | meaning | body |", "| --- | --- | --- |"]
    for status, response in op.get("responses", {}).items():
        bodies = [_type(content.get("schema", {}))
                  for content in response.get("content", {}).values() if content.get("schema")]
        types = [f"`{t}`" for t in response.get("content", {})]
        shown = ", ".join(dict.fromkeys(bodies)) or ", ".join(types) or "—"
        lines.append(f"| {status} | {_text(response.get('description'))} | {shown} |")
    return lines


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = ["", f"### {name} {{#{_schema_anchor(name)}}}", ""]
    if schema.get("description"):
        lines += [_text(schema["description"]), ""]
    properties = schema.get("properties", {})
    if not properties:
        lines.append(f"Type: {_type(schema)}.")
        return lines
    required = set(schema.get("required", []))
    lines += ["| field | type | required | default | what |", "| --- | --- | --- | --- | --- |"]
    for field, spec in properties.items():
        lines.append(f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'} | "
                     f"{_default(spec)} | {_text(spec.get('description'))} |")
    if schema.get("additionalProperties") is False:
        lines += ["", "No other fields are accepted."]
    return lines


def render(document: dict[str, Any] | None = None) -> str:
    doc = document if document is not None else json.loads(OPENAPI.read_text("utf-8"))
    info = doc.get("info", {})
    default_security = bool(doc.get("security"))
    lines = [
        "# HTTP reference",
        "",
        f"{info.get('title', 'convlog')} {info.get('version', '')}, OpenAPI "
        f"{doc.get('openapi', '')}. This page is generated from `openapi.json` (the document "
        "`convlog serve --openapi` prints) when the site is built. How to run the server, "
        "get a token, and use turns, leases and read-your-writes is in "
        "[The HTTP API](../http-api.md).",
        "",
        _text(info.get("description")),
        "",
        "A running server documents itself too: its Swagger UI is at `/docs` "
        "(e.g. `http://127.0.0.1:8080/docs` for `convlog serve --port 8080`), and the "
        "document at `/openapi.json`.",
        "",
        "Every error response has the body [ErrorBody](#schema-errorbody); which `code` "
        "each status carries is listed under [Errors](../http-api.md#errors).",
    ]
    tags: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                op = item[method]
                tags.setdefault((op.get("tags") or ["other"])[0], []).append((path, method, op))
    for tag, operations in tags.items():
        lines += ["", f"## {tag.capitalize()}"]
        for path, method, op in operations:
            secured = bool(op["security"]) if "security" in op else default_security
            lines += _operation(path, method, op, secured)
    lines += ["", "## Schemas"]
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        lines += _schema(name, schema)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
