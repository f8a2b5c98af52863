# Images of the four daemons: one build stage (Debian 12 with the -dev
# packages), a slim runtime base, and one target per daemon
# (docker build --target producer|consumer|notifier|webapp .).
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
    && useradd --system --uid 10001 --no-create-home app
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
