# canvas-conference-monitor as a container image:
#   docker build -t canvas-conference-monitor:0.1.0 .
#   docker run --rm -p 9464:9464 -e CANVAS_BASE_URL=... -e CANVAS_TOKEN_FILE=... canvas-conference-monitor:0.1.0
# docs/deploy.md has the details. Pin the base by digest (python:3.11-slim-bookworm@sha256:...)
# for bit-for-bit rebuilds; the tag alone picks up Python and Debian security fixes.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build: the project and its dependencies into a virtualenv, compiled to bytecode here, since
# the running container may not write (read-only root filesystem).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/pip uninstall --yes pip

# Run: the virtualenv alone, as an unprivileged user with a fixed numeric id (Kubernetes'
# runAsNonRoot can check a number, not a name).
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="canvas-conference-monitor" \
      org.opencontainers.image.description="Know the moment a Canvas LMS web conference goes live or ends." \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin monitor
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LISTEN=:9464
USER 10001:10001
EXPOSE 9464
# Docker's own health check (Kubernetes uses its probes instead): /healthz on the default port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["conference-monitor"]
CMD ["run"]
