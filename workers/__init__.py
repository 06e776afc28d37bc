"""The outer layer, one folder per thing it serves.

    cli/        the `convlog` command line: one module per verb, each importing what it uses
    api/        the HTTP API for gateways (FastAPI on uvicorn) and its Python client
    actors/     the worker process (`convlog worker`): dramatiq workers, woken by appends
    gateways/   one folder per gateway (openclaw/, hermes/, picoclaw/) with its store's
                importer, and what importers share (reading, building events, the report)
    tools/      for people: the synthetic workload, the HTML cost report, exports
    jobs, bootstrap, settings, migrate, counting_pool, process: what the edges share
                (the jobs they hand to workers, settings, the engine, migrations, token
                counting off the append path, process tuning)
"""
