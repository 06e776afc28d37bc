"""`convlog serve`: the HTTP API on uvicorn (`/v1/...`, `/healthz`, `/readyz`, `/metrics`)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

from workers.cli.output import err_console, plain

KEEP_ALIVE_SECONDS = 30  # a gateway's next turn reuses its connection
MAX_DEFAULT_WORKERS = 4  # each holds connections: the database's limit is shared


def default_workers() -> int:
    """The CPUs this process may run on (a container's share, not the host's), at most 4."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        usable = os.cpu_count() or 1
    return max(1, min(usable, MAX_DEFAULT_WORKERS))


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = verbs.add_parser("serve",
                             description="Serve the HTTP API. Requests need a bearer token "
                             "from `convlog token create`.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=8080, help="the port to listen on")
    serve.add_argument("--workers", type=int, default=default_workers(),
                       help="server processes (default: the CPUs this process may use, at "
                            "most 4: %(default)s)")
    serve.add_argument("--log-level", default="info",
                       choices=("critical", "error", "warning", "info", "debug"),
                       help="the server's log level")
    serve.add_argument("--openapi", action="store_true",
                       help="print the OpenAPI document and exit (no database needed)")
    serve.set_defaults(handler=run_serve)


def openapi_document() -> str:
    from workers.api.app import create_app

    return json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n"


def run_serve(args: argparse.Namespace) -> int:
    if args.openapi:
        sys.stdout.write(openapi_document())
        return 0
    if not 1 <= args.port <= 65535 or args.workers < 1:
        err_console.print("convlog: --port must be 1-65535 and --workers at least 1")
        return 2
    import uvicorn

    from eventlog.database import get_engine, resolve_url
    from eventlog.errors import DatabaseError
    from eventlog.replica import reads_for
    from workers.api.folder import FolderProcess
    from workers.api.logs import log_config
    from workers.migrate import ensure_current
    from workers.settings import ApiSettings

    settings = ApiSettings()
    # Fail here with one line (no database, no schema) rather than in every request; and
    # hand the resolved URL to the server processes, so an embedded server starts once.
    engine = get_engine(settings)
    ensure_current(engine)
    try:  # a read URL that reaches another database: one line, exit 2
        reads_for(settings, engine).close()
    except DatabaseError as error:  # a standby down for now: position reads fall back
        err_console.print(plain(f"convlog serve: warning: {error}"))
    os.environ["CONVLOG_DATABASE_URL"] = resolve_url(settings)
    if "CONVLOG_API_POOL_SIZE" not in os.environ:
        # The database's connections shared among the processes (each also keeps one for
        # its follower), not multiplied by them.
        os.environ["CONVLOG_API_POOL_SIZE"] = str(max(4, settings.api_pool_size
                                                      // args.workers))
    metrics_dir = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="convlog-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    err_console.print(f"convlog serve: http://{args.host}:{args.port} ({args.workers} "
                      "process(es) and a folder); Ctrl-C to stop", highlight=False)
    # One folder process for all of them (workers.api.folder): the fold does not compete
    # with the requests waiting for it for one interpreter.
    os.environ["CONVLOG_API_SEPARATE_FOLDER"] = "true"
    folder = FolderProcess()
    folder.start()
    try:
        uvicorn.run("workers.api.app:create_app", factory=True, host=args.host,
                    port=args.port, workers=args.workers, log_level=args.log_level,
                    proxy_headers=False, server_header=False, log_config=log_config(),
                    timeout_keep_alive=KEEP_ALIVE_SECONDS,
                    http="workers.api.protocol:TimedHttpToolsProtocol")
    finally:
        folder.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
