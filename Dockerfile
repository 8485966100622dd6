# One image for every role; the role is the command: serve, ingest, web, mailer.
# syntax=docker/dockerfile:1

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY shared shared
COPY ingest ingest
COPY web web
COPY mailer mailer
COPY src src
RUN cargo build --release --locked --bin heliograph

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20250419~deb12u2 curl=7.88.1-10+deb12u15 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 heliograph \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/heliograph --create-home heliograph
COPY --from=build /src/target/release/heliograph /usr/local/bin/heliograph
USER 10001:10001
WORKDIR /var/lib/heliograph
ENV HELIOGRAPH_STORE__DATA_DIR=/var/lib/heliograph/data
VOLUME ["/var/lib/heliograph"]
EXPOSE 7700 7780 7781 8080
# Checks the web listener of `serve`/`web`; the compose file and the Kubernetes manifests give the
# ingest role its own check on port 7780 and the mailer role on 7781.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["heliograph"]
CMD ["serve"]
