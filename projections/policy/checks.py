"""Semantic checks: cross-field problems of a structurally valid policy."""

from __future__ import annotations

from projections.errors import Diagnostic
from projections.policy.models import Policy
from projections.policy.paths import Loc, render_path


def semantic_diagnostics(policy: Policy) -> list[Diagnostic]:
    """Cross-field problems of a structurally valid policy."""
    return [
        *_duplicate_dimensions(policy),
        *_channel_group_overlaps(policy),
        *_privacy_zones_grouped(policy),
        *_identity_link_overlaps(policy),
        *_space_scope_conflicts(policy),
        *_rule_findings(policy),
        *_thread_findings(policy),
    ]


def _duplicate_dimensions(policy: Policy) -> list[Diagnostic]:
    lists: list[tuple[Loc, tuple[str, ...]]] = [(("dimensions",), policy.dimensions)]
    lists += [(("rules", i, "dimensions"), r.dimensions) for i, r in enumerate(policy.rules)]
    found = []
    for loc, dimensions in lists:
        seen: set[str] = set()
        for index, dimension in enumerate(dimensions):
            if dimension in seen:
                found.append(Diagnostic(
                    "DUPLICATE_DIMENSION", "error", render_path((*loc, index)),
                    f"'{dimension}' is listed twice; list each dimension once"))
            seen.add(dimension)
    return found


def _channel_group_overlaps(policy: Policy) -> list[Diagnostic]:
    owner: dict[str, str] = {}
    found = []
    for group, refs in policy.channel_groups.items():
        for index, ref in enumerate(refs):
            first = owner.setdefault(ref, group)
            if first != group:
                found.append(Diagnostic(
                    "CHANNEL_GROUP_OVERLAP", "error",
                    render_path(("channel_groups", group, index)),
                    f"chat {ref} is already in group {first!r}; a chat belongs to one group "
                    f"only, so remove it from {group!r} or from {first!r}"))
    return found


def _privacy_zones_grouped(policy: Policy) -> list[Diagnostic]:
    grouped = {ref: group for group, refs in policy.channel_groups.items() for ref in refs}
    found = []
    for space_ref, space in policy.spaces.items():
        platform = space_ref.partition(":")[0]
        for index, chat in enumerate(space.privacy_zones):
            group = grouped.get(f"{platform}:{chat}")
            if group is not None:
                found.append(Diagnostic(
                    "PRIVACY_ZONE_GROUPED", "error",
                    render_path(("spaces", space_ref, "privacy_zones", index)),
                    f"chat {chat} is a privacy zone but also in channel group {group!r}; "
                    "a privacy zone never shares context, so remove it from the group "
                    "or from privacy_zones"))
    return found


def _identity_link_overlaps(policy: Policy) -> list[Diagnostic]:
    owner: dict[str, str] = {}
    found = []
    for name, raw_ids in policy.identity_links.items():
        for index, raw in enumerate(raw_ids):
            first = owner.setdefault(raw, name)
            if first != name:
                found.append(_link_overlap(name, index, raw, first, raw))
    for name, raw_ids in policy.identity_links.items():
        for index, raw in enumerate(raw_ids):
            bare = raw.partition(":")[2]
            other = owner.get(bare) if bare else None
            if other is not None and other != name:
                found.append(_link_overlap(name, index, raw, other, bare))
    return found


def _link_overlap(name: str, index: int, raw: str, other: str, other_raw: str) -> Diagnostic:
    return Diagnostic(
        "IDENTITY_LINK_OVERLAP", "error", render_path(("identity_links", name, index)),
        f"{raw} would be both {name!r} and {other!r} (via {other_raw}); "
        "link each raw id to one name only")


def _space_scope_conflicts(policy: Policy) -> list[Diagnostic]:
    found = []
    for space_ref, space in policy.spaces.items():
        zones = set(space.privacy_zones)
        differing = sorted(chat for chat, override in space.channels.items()
                           if override.session_scope != space.session_scope)
        if differing:
            found.append(Diagnostic(
                "SESSION_SCOPE_CONFLICT", "warning", render_path(("spaces", space_ref)),
                f"space {space_ref} is {space.session_scope}-scoped but chat(s) "
                f"{', '.join(differing)} override it; their messages and the rest of the "
                "space do not share context. Keep it if intended, else remove the overrides"))
        for chat, override in space.channels.items():
            if chat in zones and override.session_scope == "guild":
                found.append(Diagnostic(
                    "PRIVACY_ZONE_CONFLICT", "warning",
                    render_path(("spaces", space_ref, "channels", chat)),
                    f"chat {chat} is a privacy zone, so its guild-scope override has no "
                    "effect; remove the override"))
    return found


def _rule_findings(policy: Policy) -> list[Diagnostic]:
    found = []
    names: set[str] = set()
    earlier: list[tuple[str, dict[str, tuple[str, ...]]]] = []
    for index, rule in enumerate(policy.rules):
        conditions = rule.when.conditions()
        path = render_path(("rules", index))
        if rule.name in names:
            found.append(Diagnostic("DUPLICATE_RULE_NAME", "error", path,
                                    f"another rule is also named {rule.name!r}; a rule's "
                                    "sessions are keyed by its name, so give each its own"))
        names.add(rule.name)
        if not conditions:
            found.append(Diagnostic("RULE_MATCHES_EVERYTHING", "warning", path,
                                    f"rule {rule.name!r} has an empty 'when' and matches all "
                                    "traffic; set top-level 'dimensions' instead, or add "
                                    "conditions"))
        shadow = next((name for name, prior in earlier if _covers(prior, conditions)), None)
        if shadow is not None:
            found.append(Diagnostic("RULE_SHADOWED", "warning", path,
                                    f"rule {rule.name!r} never applies: rule {shadow!r} comes "
                                    "first and matches everything it matches; reorder or "
                                    "narrow the rules"))
        if conditions.get("chat_type") == ("dm",):
            found.append(Diagnostic("RULE_IGNORED_FOR_DMS", "warning", path,
                                    f"rule {rule.name!r} only matches DMs, but DMs follow "
                                    "'dm_scope', not dimensions; set dm_scope instead"))
        earlier.append((rule.name, conditions))
    return found


def _covers(prior: dict[str, tuple[str, ...]], later: dict[str, tuple[str, ...]]) -> bool:
    """True when every event the later conditions match is also matched by the prior ones."""
    return all(key in later and set(later[key]) <= set(values) for key, values in prior.items())


def _thread_findings(policy: Policy) -> list[Diagnostic]:
    if policy.threads.isolate or "topic" not in policy.dimensions:
        return []
    return [Diagnostic("THREAD_ISOLATION_CONFLICT", "warning", "threads.isolate",
                       "threads.isolate is false but 'topic' is a dimension, so threads still "
                       "get their own sessions; remove 'topic' to fold threads into their chat")]
