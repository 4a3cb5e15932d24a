"""PostgreSQL connections are pinged before use only after sitting idle: a dropped one is replaced,
a busy one costs no round trip."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from crmgate.trail.engine import make_engine
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgres


def _drop_the_pooled_connection(engine) -> None:
    """Use one connection, put it back in the pool, then have the server end its session."""
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


def test_an_idle_connection_the_server_dropped_is_replaced(pg_url):
    """Idle past the threshold (0 s here): the checkout pings it, finds it gone, and connects anew."""
    engine = make_engine(pg_url, ping_after_idle=0.0)
    _drop_the_pooled_connection(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()


def test_a_recently_used_connection_is_not_pinged(pg_url):
    """Within the threshold the pooled connection is handed out as is: no ping, so the dropped one
    fails its first statement (and the pool reconnects for the next call)."""
    engine = make_engine(pg_url, ping_after_idle=3600.0)
    _drop_the_pooled_connection(engine)
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
