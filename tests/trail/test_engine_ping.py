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


def _kept_pid(kept) -> int:
    with kept.begin() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def test_a_kept_connection_the_server_dropped_is_pinged_and_replaced(pg_url):
    """KeptConnections (the trail's appends): a kept connection idle past the threshold is pinged;
    one the server ended is replaced, so the next transaction succeeds on a new session."""
    from crmgate.trail.engine import KeptConnections

    engine = make_engine(pg_url)
    kept = KeptConnections(engine, ping_after_idle=0.0)
    pid = _kept_pid(kept)
    assert _kept_pid(kept) == pid  # kept: the same session serves the next transaction
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    assert _kept_pid(kept) != pid
    kept.close()
    engine.dispose()


def test_a_recently_used_kept_connection_is_not_pinged(pg_url):
    """Within the threshold a kept connection is used as is (no ping): a dropped one fails its
    transaction, is not kept, and the next transaction gets a working one."""
    from crmgate.trail.engine import KeptConnections

    engine = make_engine(pg_url)
    kept = KeptConnections(engine, ping_after_idle=3600.0)
    pid = _kept_pid(kept)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    with pytest.raises(OperationalError):
        _kept_pid(kept)
    assert _kept_pid(kept) != pid
    kept.close()
    engine.dispose()


def test_kept_connections_keep_at_most_their_number_and_none_after_close(pg_url):
    """Transactions running at once each take a connection; at most ``keep`` stay open after,
    and none once closed."""
    from crmgate.trail.engine import KeptConnections

    engine = make_engine(pg_url)
    kept = KeptConnections(engine, keep=2)
    with kept.begin() as a, kept.begin() as b, kept.begin() as c:
        pids = {x.execute(text("SELECT pg_backend_pid()")).scalar() for x in (a, b, c)}
    assert len(pids) == 3 and engine.pool.checkedout() == 2
    kept.close()
    assert engine.pool.checkedout() == 0
    with kept.begin() as conn:  # still usable, but no longer keeps what it used
        conn.execute(text("SELECT 1"))
    assert engine.pool.checkedout() == 0
    engine.dispose()
