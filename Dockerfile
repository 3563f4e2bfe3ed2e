# syntax=docker/dockerfile:1
# The jobd image: built on Debian bookworm, run on bookworm-slim as uid/gid 65532.
#   docker build -t jobd:0.1.0 .
#   docker run --rm --stop-timeout 15 -p 9464:9464 jobd:0.1.0   # agent, metrics on :9464
#   docker run --rm -v /run/jobd:/run/jobd jobd:0.1.0 ...    # share the run dir with clients
# Your workers: build an image FROM this one that adds your worker binary, and pass
# --worker-cmd=/usr/local/bin/your-worker (the Helm chart's workerCmd value).

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake make pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libspdlog-dev prometheus-cpp-dev libcivetweb-dev libsystemd-dev \
      libgtest-dev libgmock-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# GTest is required at configure time (the tests are part of the project); only the three
# binaries the image ships are built.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build -j"$(nproc)" --target jobd jobctl jobd-testworker \
 && strip build/bin/jobd build/bin/jobctl build/bin/jobd-testworker

FROM debian:bookworm-slim
# Only the shared libraries the binaries link (ldd build/bin/jobd, mapped with dpkg -S); their
# own dependencies (libgrpc29, libre2-9, libcares2, libssl3, zlib1g) come with them.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libcivetweb1 libsystemd0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 jobd \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin jobd \
 && install -d -o 65532 -g 65532 -m 0750 /run/jobd
COPY --from=build /src/build/bin/jobd /src/build/bin/jobctl /src/build/bin/jobd-testworker /usr/local/bin/

LABEL org.opencontainers.image.title="jobd" \
      org.opencontainers.image.description="Per-host job coordinator with a preforked worker pool" \
      org.opencontainers.image.version="0.1.0"
USER 65532:65532
# Without flags jobd uses $JOBD_RUN_DIR; jobctl and clients find the socket through $JOBD_SOCKET.
# The Helm chart sets both to its volume (<runDir>/agent), and its args replace CMD.
ENV JOBD_RUN_DIR=/run/jobd \
    JOBD_SOCKET=/run/jobd/jobd.sock
EXPOSE 9464
# SIGTERM: jobd refuses new jobs, lets running ones finish within --grace (10s, as in the chart
# and the systemd unit), exits 0. `docker stop` waits 10s by default: give it more
# (--stop-timeout 15 / docker stop -t 15) or jobs still running at 10s are killed.
STOPSIGNAL SIGTERM
# Docker honours HEALTHCHECK only with its own image format (docker build); OCI-format builders
# (podman/buildah by default, BuildKit with oci-mediatypes) drop it with a warning. Then probe
# `jobctl health` from the orchestrator (the Helm chart does) or build with --format docker.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/jobctl", "health"]
ENTRYPOINT ["/usr/local/bin/jobd"]
CMD ["--metrics-address=0.0.0.0:9464", "--grace=10s"]
