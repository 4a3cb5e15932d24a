"""Fixtures for rules tests: the template rulebook and its text."""
from __future__ import annotations

from pathlib import Path

import pytest
from rules_helpers import TEMPLATE

from crmgate.rules.loader import load_rulebook
from crmgate.rules.schema import Rulebook


@pytest.fixture(scope="session")
def template_path() -> Path:
    return TEMPLATE


@pytest.fixture(scope="session")
def rulebook() -> Rulebook:
    return load_rulebook(TEMPLATE)


@pytest.fixture(scope="session")
def template_text() -> str:
    return TEMPLATE.read_text(encoding="utf-8")
