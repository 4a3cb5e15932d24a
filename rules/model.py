"""The base of every rulebook model: frozen, strict, unknown keys forbidden."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
