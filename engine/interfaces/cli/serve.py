"""`pitwall api`: the REST API under uvicorn."""

from __future__ import annotations

import typer

from engine.interfaces.cli.common import app, fail


@app.command("api")
def api_cmd(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000, min=1, max=65535),
            workers: int = typer.Option(1, min=1, max=32)) -> None:
    """Serve the REST API (/api/v1, docs at /docs) with uvicorn.

    X-Forwarded-For is believed only from the proxies of the setting PITWALL_TRUSTED_PROXIES
    (none by default), so a client cannot pick its own address (and rate-limit allowance)."""
    import socket

    import uvicorn

    from engine.core.settings import get_settings

    try:  # before anything starts (the Dask cluster, the job store): a port in use is one error line
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a port in TIME_WAIT is free
            probe.bind((host, port))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}): another server is using the port? choose one with --port")
    trusted = get_settings().trusted_proxies
    uvicorn.run("engine.interfaces.api:create_app", factory=True, host=host, port=port, workers=workers, log_level="info",
                proxy_headers=bool(trusted), forwarded_allow_ips=",".join(trusted) if trusted else None)
