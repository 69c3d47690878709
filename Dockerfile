# lava-sidecar: the metering sidecar for AI traffic.
#   docker build -t lava-sidecar .            (pip reaches PyPI)
#   scripts/build-image.sh                    (offline: wheels fetched on the host into wheels/)
# Runs as a non-root user on a read-only root filesystem: the usage log goes to stdout by
# default, or to a mounted volume; nothing else is written.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# Lets scripts/build-image.sh prune this stage's leftovers.
LABEL org.opencontainers.image.title="lava-sidecar-build"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    PIP_CONFIG_FILE=/tmp/pip.conf
WORKDIR /src
# wheel[s] may match nothing (plain `docker build .`): then pip uses the index; when the context
# carries wheels/ (scripts/build-image.sh), pip installs from them alone, offline.
COPY pyproject.toml wheel[s] /wheels/
# Dependencies first, from pyproject alone, so a source change does not reinstall them.
RUN if ls /wheels/*.whl >/dev/null 2>&1; then \
      printf '[global]\nno-index = true\nfind-links = /wheels\n' > /tmp/pip.conf; fi \
 && python -m venv /opt/lava-sidecar \
 && python -c 'import tomllib; p = tomllib.load(open("/wheels/pyproject.toml", "rb")); \
      extras = p["tool"]["lava-sidecar"]["image-extras"]; \
      print("\n".join(p["project"]["dependencies"] + [d for e in extras for d in p["project"]["optional-dependencies"][e]]))' \
      > /tmp/requirements.txt \
 && /opt/lava-sidecar/bin/pip install --no-cache-dir -r /tmp/requirements.txt
COPY pyproject.toml README.md ./
COPY proxy/ ./proxy/
RUN /opt/lava-sidecar/bin/pip install --no-cache-dir --no-deps . \
 && /opt/lava-sidecar/bin/pip uninstall -y -q pip setuptools \
 && find /opt/lava-sidecar \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.c' \
      -o -name '*.h' -o -name '*.pyi' \) -delete \
 && /opt/lava-sidecar/bin/python -c 'import uvloop, aiohttp, prometheus_client, redis, proxy.cli' \
 && /opt/lava-sidecar/bin/python -m compileall -q -j 0 /opt/lava-sidecar

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="lava-sidecar" \
      org.opencontainers.image.description="Metering sidecar for AI traffic: routes OpenAI/Anthropic requests through Lava with per-customer forward tokens and exports exact usage." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"
# Precompile the standard library once here: the official image ships it without .pyc, and a
# read-only root filesystem would make every start recompile it.
RUN python -m compileall -q -j 0 -x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip)/' \
      "$(python -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')" \
 && groupadd --gid 10001 lava \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin lava
COPY --from=build /opt/lava-sidecar /opt/lava-sidecar
# LAVA_SIDECAR_HEALTH_URL: what HEALTHCHECK probes; change it with --admin-listen.
ENV PATH=/opt/lava-sidecar/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LAVA_SIDECAR_HEALTH_URL=http://127.0.0.1:9464/healthz
USER 10001:10001
# 8787: the proxy (loopback unless --listen says otherwise); 9464: /metrics /healthz /readyz /usage
EXPOSE 8787 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(os.environ['LAVA_SIDECAR_HEALTH_URL'], timeout=2)"]
ENTRYPOINT ["lava-sidecar"]
CMD ["serve"]
