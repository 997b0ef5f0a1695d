# syntax=docker/dockerfile:1
# tiktok2mqtt container image. Multi-arch (amd64, arm64, arm/v7) from the same steps:
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t tiktok2mqtt .
# The install steps live in scripts/docker-steps, which tests run without Docker.
# Guide: docs/docker.md

ARG PYTHON_IMAGE=python:3.13-slim

# ---------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

# A compiler for dependencies without a wheel for the target (e.g. on arm/v7); this stage
# is thrown away, so it never reaches the final image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

COPY scripts/docker-steps /usr/local/bin/docker-steps
COPY pyproject.toml README.md* /src/
COPY bridge /src/bridge
RUN docker-steps build /src /opt/venv

# ---------------------------------------------------------------- final
FROM ${PYTHON_IMAGE}

ARG VERSION=0.0.0+unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tiktok2mqtt" \
      org.opencontainers.image.description="Bridge TikTok LIVE events to MQTT for Home Assistant, Node-RED and IoT devices" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.documentation="docs/docker.md"

# Fixed uid/gid so bind-mounted /config and /data can be chowned on the host (10001).
RUN groupadd --system --gid 10001 tiktok2mqtt \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /data \
       --shell /usr/sbin/nologin tiktok2mqtt \
    && mkdir -p /config /data \
    && chown tiktok2mqtt:tiktok2mqtt /config /data

# Same path as in the builder: the venv's scripts point at /opt/venv/bin/python.
COPY --from=builder /opt/venv /opt/venv
COPY scripts/docker-steps /usr/local/bin/docker-steps
RUN docker-steps smoke /opt/venv

# STATE_DIRECTORY is systemd's variable; the configuration honours it, so state and the
# health file default to the /data volume without any service: section in config.yaml.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TIKTOK2MQTT_CONFIG=/config/config.yaml \
    STATE_DIRECTORY=/data

# Numeric, so runtimes can verify "not root" without reading /etc/passwd.
USER 10001:10001
WORKDIR /data
VOLUME ["/config", "/data"]

# Reads the heartbeat file the daemon rewrites every service.health_interval_s.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["tiktok2mqtt", "healthcheck", "-c", "/config/config.yaml"]

# SIGTERM → the daemon publishes "offline", disconnects and exits 0 (docker stop waits 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["tiktok2mqtt"]
CMD ["run", "-c", "/config/config.yaml"]
