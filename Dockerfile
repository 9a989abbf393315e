# Build: docker build -t castellan .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY fake-bot-api ./fake-bot-api
COPY src ./src
COPY benches ./benches
COPY migrations ./migrations
COPY locales ./locales
RUN cargo build --release --locked --bin castellan

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home castellan
COPY --from=build /src/target/release/castellan /usr/local/bin/castellan
USER castellan
WORKDIR /data
# The embedded SQLite database lands here unless DATABASE_URL says otherwise.
VOLUME ["/data"]
STOPSIGNAL SIGTERM
# Probes /health on HTTP_ADDR; without HTTP_ADDR the probe reports unhealthy,
# so set it (the compose file does).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/castellan", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/castellan"]
