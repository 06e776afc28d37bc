"""`convlog policy convert --from GATEWAY CONFIG`: a gateway's own config as a convlog policy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eventlog.config_text import (
    ConfigBoundsError,
    check_depth,
    load_yaml,
    read_bounded,
    too_deep,
)
from projections.errors import Diagnostic, PolicyError
from projections.gateways.converters import CONVERTERS, converter_for
from projections.policy import check_policy, errors_of

# Keys of OpenClaw's session block: a file holding only that block is read as one.
_OPENCLAW_SESSION_KEYS = ("dmScope", "identityLinks", "mainKey", "reset", "resetTriggers")


def add_convert(actions: Any) -> None:
    convert = actions.add_parser(
        "convert", help="a gateway's own configuration as a convlog policy, with warnings",
        description="Prints the policy (JSON) on stdout and one warning per setting with no "
                    "convlog equivalent on stderr. OpenClaw's config is JSON5; Hermes's and "
                    "PicoClaw's are YAML or JSON.")
    convert.add_argument("--from", dest="gateway", required=True, choices=sorted(CONVERTERS),
                         help="the gateway the configuration belongs to")
    convert.add_argument("config", metavar="CONFIG", help="the gateway's configuration file")
    convert.add_argument("--json", action="store_true",
                         help="print {policy, warnings, diagnostics} as one JSON document")
    convert.set_defaults(handler=convert_command)


def convert_command(args: argparse.Namespace) -> int:
    data = read_config(Path(args.config), args.gateway)
    if args.gateway == "openclaw" and isinstance(data, dict) and "session" not in data \
            and any(key in data for key in _OPENCLAW_SESSION_KEYS):
        data = {"session": data}
    extras = hermes_extras(Path(args.config)) if args.gateway == "hermes" else {}
    conversion = converter_for(args.gateway)(data, **extras)
    diagnostics = check_policy(conversion.policy)
    errors = errors_of(diagnostics)
    if errors:
        raise PolicyError("the converted policy is invalid: "
                          + "; ".join(str(d) for d in errors), diagnostics)
    if args.json:
        print(json.dumps({**conversion.as_dict(),
                          "diagnostics": [d.as_dict() for d in diagnostics]},
                         indent=2, ensure_ascii=False))
        return 0
    print(json.dumps(conversion.policy, indent=2, ensure_ascii=False))
    for warning in conversion.warnings:
        print(f"{args.config}: warning {warning.code} at {warning.setting}: {warning.message}",
              file=sys.stderr)
    for diagnostic in diagnostics:
        print(f"{args.config}: policy {diagnostic}", file=sys.stderr)
    return 0


def hermes_extras(config: Path) -> dict[str, Any]:
    """WhatsApp LID -> phone mappings the bridge keeps beside Hermes's config (HERMES_HOME)."""
    mappings: dict[str, str] = {}
    folder = config.parent / "whatsapp" / "session"
    for file in sorted(folder.glob("lid-mapping-*.json")) if folder.is_dir() else []:
        lid = file.name.removeprefix("lid-mapping-").removesuffix(".json")
        try:
            phone = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            print(f"{file}: warning LID_MAPPING_UNREADABLE: skipped", file=sys.stderr)
            continue
        if isinstance(phone, str) and lid:
            mappings[lid] = phone
    return {"lid_mappings": mappings}


def read_config(path: Path, gateway: str) -> Any:
    """A gateway's config decoded: JSON5 for OpenClaw, YAML (JSON included) for the others."""
    import json5  # the parser only when a configuration is read

    try:
        text = read_bounded(path)
    except ConfigBoundsError as error:
        raise _config_error(error.code, path, str(error)) from None
    except FileNotFoundError:
        raise _config_error("CONFIG_NOT_FOUND", path,
                            f"no configuration file at {path}; check the path") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _config_error("CONFIG_UNREADABLE", path,
                            f"cannot read {path} ({error}); make it a readable UTF-8 file"
                            ) from None
    try:
        if gateway == "openclaw":
            check_depth(text)
            try:
                return json5.loads(text)
            except RecursionError:
                raise too_deep() from None
        return load_yaml(text)
    except ConfigBoundsError as error:
        raise _config_error(error.code, path, f"{path}: {error}") from None
    except ValueError as error:  # a syntax error, of JSON5 or of YAML
        kind = "JSON5" if gateway == "openclaw" else "YAML or JSON"
        first = str(error).strip().splitlines()[0] if str(error).strip() else "syntax error"
        raise _config_error("CONFIG_NOT_PARSED", path,
                            f"{path} is not valid {kind} ({first}); fix the syntax") from None


def _config_error(code: str, path: Path, message: str) -> PolicyError:
    return PolicyError(message, [Diagnostic(code, "error", str(path), message)], code=code)
