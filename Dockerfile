# Tally engine image: build on Debian 12, run on Debian 12 with only the
# runtime libraries. Build:  docker build -t tally .
# Every library comes from Debian's own packages (DESIGN.md), as on a dev box.

# ---- build stage ------------------------------------------------------------
FROM debian:bookworm-slim AS build

# The build dependencies of scripts/install-deps.sh, without the servers, Node.js
# and ccache the dev box also gets (nothing to cache in a one-shot build).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libcaf-dev libboost1.74-dev libpqxx-dev libhiredis-dev libssl-dev \
      nlohmann-json3-dev libspdlog-dev libfmt-dev catch2 libsodium-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTALLY_BUILD_TESTS=OFF \
 && cmake --build build --target tally \
 && strip build/cmd/tally

# ---- runtime stage ----------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# Shared libraries the binary links (Debian 12 package names), CA roots for
# outbound TLS to payment gateways, and curl for the health check.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcaf-core0.17 libcaf-io0.17 libpqxx-6.4 libhiredis0.14 libssl3 \
      libsodium23 libspdlog1.10 libfmt9 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/tally \
      --create-home --shell /usr/sbin/nologin tally

COPY --from=build /src/build/cmd/tally /usr/local/bin/tally
COPY migrations/ /usr/share/tally/migrations/

ENV TALLY_MODE=production \
    TALLY_LISTEN=0.0.0.0:8080 \
    TALLY_MIGRATIONS_DIR=/usr/share/tally/migrations

# The working directory is the tally user's own, so anything the engine writes
# relative to it (its run folder) is writable without root.
WORKDIR /var/lib/tally
USER tally:tally
EXPOSE 8080

# Ready = the engine answers and reaches PostgreSQL and Redis.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8080/health/ready || exit 1

CMD ["tally", "serve"]
