# carepath: one image for the worker, the HTTP API and the codec server.
#
#   docker build -t carepath:local .
#   docker run ... carepath:local                        # python -m api (the default)
#   docker run ... carepath:local python -m worker
#   docker run ... carepath:local python -m codec serve
#
# Settings come from the environment (CAREPATH_*, DATABASE_URL); see docker-compose.yml and
# deploy/env.example. Nothing secret is baked into the image.

# ---- build: install the project (no dev extras) into a virtualenv ---------------------------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/carepath
ENV PATH=/opt/carepath/bin:$PATH

WORKDIR /src
# .dockerignore keeps tests, docs, local data, virtualenvs and any .env out of the context.
# No extras: the dev server, embedded PostgreSQL and the CLI stay out of the image; the
# versions are the ones the tests ran on (constraints.txt, written by `make lock`).
COPY . .
RUN pip install --no-cache-dir -c constraints.txt . \
 && python -m compileall -q /opt/carepath/lib
# ^ bytecode in the image: the runtime user cannot write it, and the workflow sandbox
# imports the workflow's module again for every cold episode (worker/runtime.py).

# ---- runtime ---------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="carepath" \
      org.opencontainers.image.description="Care-transition engine for behavioral-health programs, on Temporal." \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, unprivileged uid/gid, so orchestrators can check runAsNonRoot and volumes can be
# chowned ahead of time.
RUN groupadd --system --gid 10001 carepath \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/carepath --no-create-home \
        --shell /usr/sbin/nologin carepath \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/carepath

COPY --from=build /opt/carepath /opt/carepath

ENV PATH=/opt/carepath/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CAREPATH_DATA_DIR=/var/lib/carepath

WORKDIR /var/lib/carepath
USER 10001:10001

# API 8000, codec server 8081 (the worker listens on nothing).
EXPOSE 8000 8081

# Liveness of the API (the default command). The worker and codec services override this in
# docker-compose.yml: the worker has no port, the codec server has its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CAREPATH_API_PORT', '8000'), timeout=4)"]

CMD ["python", "-m", "api"]
