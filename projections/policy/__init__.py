"""Scope policies: the pydantic model, validation with codes, loading, grouping fingerprint."""

from projections.policy.checks import semantic_diagnostics
from projections.policy.loading import check_policy, errors_of, load_policy, read_policy_file
from projections.policy.models import DIMENSIONS, DM_SCOPES, Policy, ResetPolicy

__all__ = [
    "DIMENSIONS",
    "DM_SCOPES",
    "Policy",
    "ResetPolicy",
    "check_policy",
    "errors_of",
    "load_policy",
    "read_policy_file",
    "semantic_diagnostics",
]
