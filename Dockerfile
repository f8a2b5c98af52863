# Every image of docker-compose.yml, from Debian 12 alone (debian:12 and
# debian:12-slim; where no registry gives them, scripts/docker-base makes them
# from Debian's packages): one build stage (the -dev packages), a slim runtime
# base, one target per daemon, the one-shot jobs' tools, and the servers from
# Debian's packages (Redis, nginx), Maven Central (the Kafka broker, fetched
# as the native stack fetches it: kafka/pom.xml through scripts/kafka-fetch)
# and PyPI (Locust). docker build --target producer|consumer|notifier|webapp|
# tools|kafka|redis|nginx|locust .
# The daemons' targets come first: a builder without BuildKit builds every
# stage above the one asked for.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config librdkafka-dev libhiredis-dev libmicrohttpd-dev \
      libjansson-dev libcurl4-openssl-dev libcmocka-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DWERROR=ON \
    && cmake --build /build -j"$(nproc)"

FROM debian:12-slim AS runtime
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libhiredis0.14 libmicrohttpd12 libjansson4 libcurl4 libssl3 \
      ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home app \
    && install -d -o app -g app -m 0700 /var/lib/stock-alerts/secret
ENV LISTEN_HOST=0.0.0.0
USER app

FROM runtime AS producer
COPY --from=build /build/producer/producer /usr/local/bin/producer
ENV METRICS_PORT=9101
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD curl -fsS http://127.0.0.1:9101/health || exit 1
ENTRYPOINT ["/usr/local/bin/producer"]

FROM runtime AS consumer
COPY --from=build /build/consumer/consumer /usr/local/bin/consumer
ENV METRICS_PORT=9102
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD curl -fsS http://127.0.0.1:9102/health || exit 1
ENTRYPOINT ["/usr/local/bin/consumer"]

FROM runtime AS notifier
COPY --from=build /build/notifier/notifier /usr/local/bin/notifier
ENV METRICS_PORT=9103
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD curl -fsS http://127.0.0.1:9103/health || exit 1
ENTRYPOINT ["/usr/local/bin/notifier"]

FROM runtime AS webapp
COPY --from=build /build/webapp/webapp /usr/local/bin/webapp
COPY --from=build /src/webapp/static /usr/local/share/stock-alerts/static
ENV WEBAPP_PORT=8000 WEBAPP_STATIC_DIR=/usr/local/share/stock-alerts/static
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD curl -fsS http://127.0.0.1:8000/health || exit 1
ENTRYPOINT ["/usr/local/bin/webapp"]

# The one-shot jobs of compose: kafka-admin (the contract's topics) and
# cookie-secret (the webapps' shared secret, drawn once into a volume).
FROM runtime AS tools
COPY --from=build /build/tools/kafka-admin /usr/local/bin/kafka-admin
COPY scripts/cookie-secret /usr/local/bin/cookie-secret

# The broker's jars, resolved from Maven Central exactly as ./stack install
# does (kafka/pom.xml, scripts/kafka-fetch); only these three files decide
# whether this layer is fetched again.
FROM debian:12 AS kafka-jars
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      maven default-jre-headless ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# The machine's own CAs, if it has any (docker/ca-certificates/README).
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
COPY kafka/pom.xml /src/kafka/pom.xml
COPY scripts/kafka-fetch scripts/lib.sh /src/scripts/
RUN /src/scripts/kafka-fetch /opt/kafka/libs && rm -rf /root/.m2

# One KRaft node (broker + controller), configured from its KAFKA_*
# environment (kafka/docker-entrypoint); kafka-admin is its health check.
FROM debian:12-slim AS kafka
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      default-jre-headless librdkafka1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10002 --no-create-home kafka \
    && install -d -o kafka -g kafka /var/lib/kafka/data
COPY --from=kafka-jars /opt/kafka/libs /opt/kafka/libs
COPY --from=build /build/tools/kafka-admin /usr/local/bin/kafka-admin
COPY kafka/log4j2.yaml.in /opt/kafka/log4j2.yaml.in
COPY kafka/docker-entrypoint /usr/local/bin/kafka-entrypoint
USER kafka
EXPOSE 9092 9093
HEALTHCHECK --interval=5s --timeout=10s --retries=20 CMD kafka-admin wait --bootstrap 127.0.0.1:9092 --timeout-ms 5000
ENTRYPOINT ["/usr/local/bin/kafka-entrypoint"]

FROM debian:12-slim AS redis
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o redis -g redis /data
WORKDIR /data
USER redis
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --retries=10 CMD redis-cli ping
CMD ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]

# nginx from the project's template (nginx.conf, rendered by scripts/render-nginx
# from the NGINX_* environment at every start); the master runs as root, as in
# Debian's package and nginx's own image, the workers as nginx's default user.
FROM debian:12-slim AS nginx
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nginx-light curl \
    && rm -rf /var/lib/apt/lists/*
COPY nginx.conf /etc/stock-alerts/nginx.conf.in
COPY scripts/render-nginx /etc/stock-alerts/render-nginx
ENV NGINX_LISTEN=80 NGINX_DAEMON=off NGINX_RUNTIME_DIR=/tmp/nginx NGINX_ERROR_LOG=stderr \
    NGINX_ACCESS_LOG=/dev/stdout
EXPOSE 80
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD curl -fsS -o /dev/null http://127.0.0.1/health || exit 1
CMD ["/bin/sh", "-c", "/bin/sh /etc/stock-alerts/render-nginx /etc/stock-alerts/nginx.conf.in /tmp/nginx.conf && exec nginx -c /tmp/nginx.conf"]

# Locust from PyPI (the requirement ./stack load installs), with the project's
# users (locust/locustfile.py).
FROM debian:12-slim AS locust
ARG LOCUST_VERSION=locust>=2.20
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates \
    && python3 -m venv /opt/locust \
    && /opt/locust/bin/pip install --no-cache-dir -q --disable-pip-version-check "$LOCUST_VERSION" \
    && useradd --system --uid 10003 --create-home locust
COPY locust/locustfile.py /mnt/locust/locustfile.py
USER locust
EXPOSE 8089
ENTRYPOINT ["/opt/locust/bin/locust"]
CMD ["-f", "/mnt/locust/locustfile.py", "--host", "http://nginx"]
