# pinmon in a container. Build:   docker build -t pinmon .
# Run (secrets from an env file, state on a named volume, config mounted read-only):
#   docker run -d --name pinmon --env-file pinmon.env \
#     -v pinmon-state:/var/lib/pinmon -v "$PWD/pinmon.toml:/etc/pinmon/pinmon.toml:ro" pinmon
# pinmon.toml needs  state = "/var/lib/pinmon/pinmon-state.db"  and, for the
# HEALTHCHECK,  listen = "127.0.0.1:9464"  under [monitor]. See docs/operations.md.

# --- build: the wheel, installed with its dependencies into a venv ---------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN python -m venv /opt/pinmon \
    && /opt/pinmon/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/pinmon/bin/pip install /wheels/*.whl

# --- runtime: the venv only, no compiler, no sources, no pip cache ---------------------
FROM python:3.11-slim
ENV PATH=/opt/pinmon/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/pinmon /opt/pinmon
# A fixed uid, so a volume's ownership survives image rebuilds.
RUN groupadd --system --gid 10001 pinmon \
    && useradd --system --uid 10001 --gid pinmon --no-create-home \
       --home-dir /var/lib/pinmon --shell /usr/sbin/nologin pinmon \
    && install -d -o pinmon -g pinmon -m 0700 /var/lib/pinmon \
    && install -d -m 0755 /etc/pinmon
# Numeric, so a runtime that checks runAsNonRoot can tell without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/pinmon
VOLUME ["/var/lib/pinmon"]
EXPOSE 9464
# slim has no curl: python's urllib asks /healthz; any error or a 503 is unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:9464/healthz', timeout=4).status == 200 else 1)"]
# Graceful shutdown needs SIGTERM to reach pinmon itself: exec form, no shell in between.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pinmon"]
CMD ["run", "-c", "/etc/pinmon/pinmon.toml", "--log-format", "json"]
