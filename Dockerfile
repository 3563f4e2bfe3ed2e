# jobd image: build on bookworm, run on bookworm-slim as a non-root user.
#   docker build -t jobd:0.1.0 .
FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake make pkg-config libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libspdlog-dev prometheus-cpp-dev libcivetweb-dev libgtest-dev libgmock-dev libbenchmark-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build build -j"$(nproc)" --target jobd jobctl jobd-testworker

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 libspdlog1.10 libprometheus-cpp-core1.0 libcivetweb1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 jobd && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin jobd \
    && install -d -o jobd -g jobd -m 0750 /run/jobd
COPY --from=build /src/build/bin/jobd /src/build/bin/jobctl /src/build/bin/jobd-testworker /usr/local/bin/
USER 65532:65532
ENV JOBD_RUN_DIR=/run/jobd
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s CMD ["/usr/local/bin/jobctl", "health"]
ENTRYPOINT ["/usr/local/bin/jobd"]
CMD ["--metrics-address=0.0.0.0:9464"]
