"""``crmgate serve`` runs on uvicorn's C HTTP parser and libuv loop (uvicorn's "auto" picks them when
installed): on h11 and asyncio's loop the server spent about 1.4 ms more CPU per small request."""
from __future__ import annotations

import sys

import pytest


def test_uvicorn_auto_picks_the_c_http_parser():
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    assert AutoHTTPProtocol.__name__ == "HttpToolsProtocol"


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not run on Windows")
def test_uvicorn_auto_picks_uvloop():
    from uvicorn.config import Config

    config = Config(app=lambda *_a: None, loop="auto")
    assert config.get_loop_factory().__module__.startswith("uvloop")
