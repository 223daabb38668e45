"""The documentation stays true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from thyromics.study.config import study_reference

ROOT = Path(__file__).resolve().parents[1]


def test_user_guide_has_the_current_study_reference():
    guide = (ROOT / "docs" / "user-guide.md").read_text()
    assert study_reference() in guide, "regenerate the reference table in docs/user-guide.md"


def test_readme_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    assert len(blocks) >= 2
    setup, tests = blocks[0], blocks[1]
    assert "thyromics demo" in setup and "pip install -e" in setup
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests.strip() in ci, "the README's test command must be what .ci/run runs"


def test_every_registered_command_is_documented():
    from thyromics.cli import COMMANDS

    guide = (ROOT / "docs" / "user-guide.md").read_text()
    for name, _, _ in COMMANDS:
        if name != "habitats":
            assert f"thyromics {name}" in guide, name
