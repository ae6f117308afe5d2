# The kafka-dr daemon: scheduled backups and drills, /metrics and /healthz on port 9187.
#
#   docker build -t kafka-dr .                      (--build-arg KAFKA_VERSION=3.9.1 for another)
#   docker run -v /etc/kafka-dr:/etc/kafka-dr:ro -v kafka-dr-state:/var/lib/kafka-dr \
#              -p 9187:9187 kafka-dr
#
# docs/deploy.md says which volumes, secrets and settings it expects. Two stages: the first
# installs kafka-dr from the lock file and resolves the Kafka tool jars with Maven; the second
# holds only Python, a JRE, the installed kafka-dr and the jars, and runs as a non-root user.
# Debian's python3 is the one the lock file is compiled for (3.11 on bookworm).

ARG KAFKA_VERSION=4.3.1

FROM debian:bookworm-slim AS build
ARG KAFKA_VERSION
# Debian's package versions are not pinned: the archive keeps only the current ones (with
# their security fixes), so a pin would break the build at the next point release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates maven openjdk-17-jdk-headless python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

# Exact versions with their hashes first (a layer that changes only with the lock file),
# then kafka-dr itself without dependencies.
COPY requirements.lock /src/
RUN python3 -m venv /opt/kafka-dr \
    && /opt/kafka-dr/bin/pip install --no-cache-dir --require-hashes -r /src/requirements.lock
COPY pyproject.toml README.md LICENSE /src/
COPY dr /src/dr
RUN /opt/kafka-dr/bin/pip install --no-cache-dir --no-deps /src

# The jars of the Kafka command-line tools (KRaft quorum, broker replacement), resolved from
# Maven Central as `kafka-dr lab fetch` does, laid out as an installation's libs/ (KAFKA_HOME).
RUN KAFKA_DR_CACHE=/tmp/kafka-dr-cache /opt/kafka-dr/bin/kafka-dr lab fetch \
        --kafka-version "${KAFKA_VERSION}" \
    && mkdir -p /opt/kafka \
    && mv "/tmp/kafka-dr-cache/kafka/${KAFKA_VERSION}/libs" /opt/kafka/libs \
    && rm -rf /tmp/kafka-dr-cache /root/.m2


FROM debian:bookworm-slim
ARG KAFKA_VERSION
LABEL org.opencontainers.image.title="kafka-dr" \
      org.opencontainers.image.description="Disaster recovery and backup for Apache Kafka" \
      org.opencontainers.image.licenses="Apache-2.0"

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates openjdk-17-jre-headless python3 \
    && rm -rf /var/lib/apt/lists/*

# A dedicated user with a fixed id (so that a volume's owner can be set from outside); its
# home is the state directory, which holds the SQLite state store and the drill reports.
RUN groupadd --system --gid 10001 kafka-dr \
    && useradd --system --uid 10001 --gid kafka-dr --home-dir /var/lib/kafka-dr \
        --no-create-home --shell /usr/sbin/nologin kafka-dr \
    && mkdir -p /etc/kafka-dr /var/lib/kafka-dr \
    && chown kafka-dr:kafka-dr /var/lib/kafka-dr

COPY --from=build /opt/kafka-dr /opt/kafka-dr
COPY --from=build /opt/kafka /opt/kafka
# tools.kafka_version set to this image's version finds the same jars through the cache.
RUN mkdir -p "/opt/kafka-dr/cache/kafka/${KAFKA_VERSION}" \
    && ln -s /opt/kafka/libs "/opt/kafka-dr/cache/kafka/${KAFKA_VERSION}/libs" \
    && printf '%s\n' "${KAFKA_VERSION}" > /opt/kafka-dr/cache/kafka/default-version

ENV PATH=/opt/kafka-dr/bin:$PATH \
    KAFKA_HOME=/opt/kafka \
    KAFKA_DR_CACHE=/opt/kafka-dr/cache \
    KAFKA_DR_CONFIG=/etc/kafka-dr/kafka-dr.yaml \
    KAFKA_DR_HEALTH_URL=http://127.0.0.1:9187/healthz \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001
WORKDIR /var/lib/kafka-dr
VOLUME ["/var/lib/kafka-dr"]
EXPOSE 9187

# /healthz answers 503 while a backup job or a drill is failing or stale: the container shows
# "unhealthy" then, which is a call for attention, not for a restart (docs/deploy.md). The
# image has no curl; Python's urllib raises (exit 1) on a refused connection or a 503.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as r; r.urlopen(os.environ['KAFKA_DR_HEALTH_URL'], timeout=4)"]

ENTRYPOINT ["kafka-dr"]
CMD ["daemon"]
