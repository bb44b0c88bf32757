# Multi-stage build: compile in the Rust image, run on a slim Debian as a non-root user.
#   docker build -t idsync .
#   docker run --rm -v idsync-data:/var/lib/idsync -v "$PWD/config:/etc/idsync:ro" idsync
FROM rust:1.85-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin idsync

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/idsync --shell /usr/sbin/nologin idsync \
 && install -d -o idsync -g idsync /var/lib/idsync /etc/idsync
# The binary embeds its migrations; they are also shipped for reference and review.
COPY --from=build /src/target/release/idsync /usr/local/bin/idsync
COPY --from=build /src/migrations /usr/share/idsync/migrations
COPY --from=build /src/config/idsync.example.toml /usr/share/idsync/idsync.example.toml
USER idsync
WORKDIR /var/lib/idsync
ENTRYPOINT ["/usr/local/bin/idsync", "--config", "/etc/idsync/idsync.toml", "--log-format", "json"]
CMD ["run"]
