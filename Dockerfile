# syntax=docker/dockerfile:1
# onnxd: multi-stage build on Debian 12. The runtime stage holds only the shared libraries onnxd
# links, runs as a non-root user and serves /models (mount a Triton-layout model repository there).
FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libonnx-dev libprotobuf-dev protobuf-compiler libopenblas-dev libgrpc++-dev protobuf-compiler-grpc \
      nlohmann-json3-dev libboost-dev libgtest-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DONNXD_BUILD_TESTS=OFF \
    && ninja -C build onnxd \
    && strip build/onnxd

FROM debian:bookworm-slim AS runtime
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libonnx1 libprotobuf32 libopenblas0-pthread libgrpc++1.51 libgrpc29 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home onnxd
COPY --from=build /src/build/onnxd /usr/local/bin/onnxd
COPY --from=build /src/models /models
USER 10001
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD curl -fsS http://localhost:8000/v2/health/ready || exit 1
ENTRYPOINT ["onnxd", "--model-repository", "/models"]
