"""crmgate serve | mcp"""
from __future__ import annotations

import os

import click

from crmgate.doors.cli.base import Ctx, cli, handle_errors, pass_ctx

WORKER_HEALTHCHECK_S = 30  # seconds a worker process may take to answer uvicorn's health check


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on. There is no TLS: put a TLS proxy in front for anything but loopback.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8080, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Server processes; several share the request limits and the CRM budget (budget.storage).")
@pass_ctx
@handle_errors
def serve(ctx: Ctx, host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (/v1, OpenAPI at /v1/openapi.json), the MCP endpoint (/mcp) and the
    console for people (/, see docs/console.md)."""
    import structlog
    import uvicorn

    from crmgate.config import find_config_path
    from crmgate.doors.asgi import app_from_env
    from crmgate.doors.logs import dict_config, export_to_env, resolve
    from crmgate.doors.wiring import CONFIG_ENV

    config_path = find_config_path(ctx.config_path)
    ctx.config()  # a bad config is refused here, with exit 2, before anything listens
    _check_port_free(host, port)
    os.environ[CONFIG_ENV] = str(config_path.resolve())
    # uvicorn applies log_config in every worker process; the workers' own structlog setup (in
    # app_from_env) reads the same choice from the environment
    fmt, level = ctx.log_settings or resolve()
    export_to_env(fmt, level)
    # access_log off: the app's http.request line says more (request id, actor, route, duration)
    run = {"host": host, "port": port, "log_config": dict_config(fmt, level), "log_level": level, "access_log": False}
    structlog.get_logger("crmgate.serve").info("serve.start", url=f"http://{host}:{port}/v1", mcp="/mcp", console="/",
                                               config=str(config_path), workers=workers)
    if workers > 1:
        # uvicorn kills and restarts a worker that does not answer its health check in time (5 s by
        # default): on a loaded machine a worker still starting (spawning, importing) missed it, and
        # its replacement did too, so none ever served
        uvicorn.run("crmgate.doors.asgi:app_from_env", factory=True, workers=workers,
                    timeout_worker_healthcheck=WORKER_HEALTHCHECK_S, **run)
    else:
        uvicorn.run(app_from_env(shared_quotas=False), **run)  # the only process: quotas in memory


def _check_port_free(host: str, port: int) -> None:
    """Refuse (one JSON line, exit 2) when something already listens on host:port, instead of
    uvicorn's multi-line log and traceback."""
    import socket

    from crmgate.errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}", code="invalid_host",
                          details={"host": host, "port": port}) from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(f"port {port} on {host} is already in use ({exc.strerror or exc}): stop the "
                              "other server or pass --port", code="port_in_use",
                              details={"host": host, "port": port}) from None


@cli.command()
@click.option("--token-env", default="CRMGATE_TOKEN", show_default=True,
              help="The environment variable holding this server's crmgate token (it decides the actor).")
@pass_ctx
@handle_errors
def mcp(ctx: Ctx, token_env: str) -> None:
    """Run the MCP server over stdio, as the actor of the token in $CRMGATE_TOKEN.

    Tools: propose_change, check_change, get_record, get_change_status. Their descriptions and
    input schemas come from the rulebook: the objects, operations and fields the actor may touch.
    """
    from crmgate.doors.mcp.server import run_stdio

    run_stdio(ctx.config(), token=os.environ.get(token_env))
