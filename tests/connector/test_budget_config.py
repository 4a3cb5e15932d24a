"""budget.storage picks where the shared windows live; a bad value is a config error naming it."""
from __future__ import annotations

from pathlib import Path

import pytest

from crmgate.adapters.budget import MemoryWindows, RedisWindows
from crmgate.budget import SqlWindows, budget_for
from crmgate.config import Config
from crmgate.errors import ConfigError


def _config(**kw) -> Config:
    return Config.model_validate({"crm": {"kind": "sandbox", "path": ":memory:"}, **kw})


def test_the_default_follows_the_store(tmp_path: Path):
    """An in-memory store keeps the budget in memory; a SQLite trail file gets a budget file beside it."""
    assert isinstance(budget_for(_config(store="sqlite://")).storage, MemoryWindows)
    budget = budget_for(_config(store=f"sqlite:///{tmp_path / 'trail.db'}"))
    assert isinstance(budget.storage, SqlWindows)
    assert not (tmp_path / "trail.db.budget").exists()  # made on first use, not on opening
    budget.take("k", 1, 1.0)
    assert (tmp_path / "trail.db.budget").exists()


def test_memory_and_redis_are_chosen_by_name(tmp_path: Path):
    assert isinstance(budget_for(_config(store=f"sqlite:///{tmp_path / 't.db'}", budget={"storage": "memory"})).storage,
                      MemoryWindows)
    assert isinstance(budget_for(_config(budget={"storage": "redis://127.0.0.1:6379/0"})).storage, RedisWindows)


def test_an_unknown_storage_is_refused(tmp_path: Path):
    from crmgate.config import load_config

    path = tmp_path / "crmgate.yaml"
    path.write_text("crm: {kind: sandbox, path: ':memory:'}\nbudget: {storage: mongodb://x}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "budget" in str(info.value.details or info.value)
