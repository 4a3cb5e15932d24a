"""placeholder"""
from typing import Any


def routes(console: Any, page: Any) -> list[Any]:
    return []
