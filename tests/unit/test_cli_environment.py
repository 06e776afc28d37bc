"""The CLI's list of known CONVLOG_* variables is every setting there is."""

from __future__ import annotations

from workers.cli.environment import KNOWN, unknown_variables
from workers.settings import ApiSettings


def test_every_setting_is_known() -> None:
    settings = {f"CONVLOG_{name.upper()}" for name in ApiSettings.model_fields}
    assert settings <= set(KNOWN), sorted(settings - set(KNOWN))


def test_only_unknown_convlog_variables_are_warned_about() -> None:
    lines = unknown_variables({"CONVLOG_HOME": "/x", "CONVLOG_ENCODNG": "o200k_base",
                               "CONVLOG_ZZZ_QQQ": "1", "PATH": "/bin"})
    assert len(lines) == 2
    assert "CONVLOG_ENCODNG" in lines[0] and "did you mean CONVLOG_ENCODING?" in lines[0]
    assert "CONVLOG_ZZZ_QQQ" in lines[1] and "did you mean" not in lines[1]
