# westward: the gRPC workload router, one replica per container.
# Build: docker build -t westward .   Run: docker compose up   (see docs/deploy.md)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A system user (uid/gid 10001) that owns only the state directory; the code stays root's.
RUN groupadd --system --gid 10001 westward \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/westward westward

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY router ./router
# The runtime dependencies only: no dev extras (tests, linters, code generators).
RUN pip install --no-cache-dir . && rm -rf /src

WORKDIR /var/lib/westward
# The westward user created above (numeric, so the runtime needs no passwd lookup).
USER 10001:10001
VOLUME ["/var/lib/westward"]
EXPOSE 50051

# The standard grpc.health.v1 service, asked over loopback inside the container.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; r = g.HealthStub(grpc.insecure_channel('127.0.0.1:50051')).Check(h.HealthCheckRequest(), timeout=3); sys.exit(0 if r.status == h.HealthCheckResponse.SERVING else 1)"]

ENTRYPOINT ["westward"]
CMD ["serve", "--listen", "0.0.0.0:50051", "--state", "/var/lib/westward/state.sqlite"]
