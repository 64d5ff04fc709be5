# thorbot: one image for `thorbot serve` (the default), `thorbot worker` and `thorbot socket`; the command is
# chosen at run time:  podman run … thorbot worker   (docs/operations.md → Containers; compose.yaml).
#
#   scripts/container-base && podman build --format docker -t thorbot .     # base made from Debian's packages
#   docker build --build-arg BASE=python:3.11-slim-bookworm -t thorbot .    # where Docker Hub is reachable
#   podman build --format docker --target redis -t thorbot-redis .          # Debian's redis-server, same base
#
# Only the runtime dependencies go in, pinned and checked against their hashes (requirements-runtime.lock, written
# by scripts/lock); pytest and the other dev tools do not. Behind a TLS-inspecting proxy, give pip its CA bundle:
# --secret id=pip_cert,src=/path/to/ca-bundle.crt (a build secret: it is not kept in any layer).
ARG BASE=localhost/thorbot-base:bookworm

FROM ${BASE} AS build
# A venv of the base's own python3: the same on Debian's python3 (python3-venv) and on python:3.11-slim, whatever
# pip either base has or lacks.
RUN python3 -m venv /app/.venv
COPY requirements-runtime.lock /src/
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    /app/.venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes --only-binary=:all: \
      -r /src/requirements-runtime.lock
COPY pyproject.toml README.md LICENSE /src/
COPY thorbot /src/thorbot
# thorbot itself: nothing left to resolve (--no-deps), built with the locked setuptools (--no-build-isolation), so
# nothing unhashed is downloaded.
RUN /app/.venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation /src

FROM ${BASE} AS redis
# Redis for compose and the container check, from Debian's package (7.0), append-only file on, data on /data.
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
VOLUME ["/data"]
EXPOSE 6379
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["redis-cli", "ping"]
# No password on a private network (compose's): protected mode would refuse every client that is not on loopback.
CMD ["redis-server", "--dir", "/data", "--appendonly", "yes", "--protected-mode", "no"]

FROM ${BASE} AS thorbot
RUN groupadd --system --gid 10001 thorbot \
    && useradd --system --uid 10001 --gid thorbot --home-dir /app --no-create-home --shell /usr/sbin/nologin thorbot \
    && mkdir -p /data && chown thorbot:thorbot /data
COPY --from=build /app/.venv /app/.venv
# THORBOT_DATA_DIR: the embedded Redis's files when REDIS_URL is unset (one container only); a volume either way.
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 THORBOT_DATA_DIR=/data PORT=3000
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /app
VOLUME ["/data"]
EXPOSE 3000
# serve's liveness (the process answers and Redis does). A worker or socket container has no HTTP port: its
# runner disables this (compose.yaml), and serve's /readyz tells whether a worker has cycled lately.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["thorbot"]
CMD ["serve"]
