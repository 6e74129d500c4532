# syntax=docker/dockerfile:1
# onnxd container images, multi-stage.
#
#   docker build -t onnxd:cpu .                    CPU image on debian:bookworm-slim (the default target)
#   docker build --target cuda -t onnxd:cuda .     GPU image on an nvidia/cuda runtime base
#   docker run -p 8000-8002:8000-8002 -v $PWD/models:/models:ro onnxd:cpu
#
# Both runtime stages hold onnxd, the shared libraries it links and nothing else (no compiler, no
# curl: the HEALTHCHECK is a bash script), run as the non-root user 10001 and serve the Triton-layout
# model repository mounted at /models (the bundled example models are there by default).
# scripts/check_deploy.sh lints this file (hadolint) and checks that the CPU runtime stage's package
# list owns every library that `ldd onnxd` of a real build lists.
#
# Version pins (hadolint DL3008) are left out on purpose: Debian stable only ships security fixes
# under one release, and pinned versions disappear from the mirrors when those land.

# The cuDNN variants: without cudnn.h at build time Conv and pooling would stay on the CPU in CUDA
# sessions (engine/kernels/cuda/CMakeLists.txt), and the runtime needs libcudnn.so.9 to dlopen.
ARG CUDA_VERSION=12.6.3
ARG CUDA_DEVEL_IMAGE=nvidia/cuda:${CUDA_VERSION}-cudnn-devel-ubuntu24.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:${CUDA_VERSION}-cudnn-runtime-ubuntu24.04

# ---- CPU build ---------------------------------------------------------------------------------
FROM debian:bookworm AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       g++ cmake ninja-build pkg-config ca-certificates \
       libonnx-dev libprotobuf-dev protobuf-compiler libopenblas-dev \
       libgrpc++-dev protobuf-compiler-grpc nlohmann-json3-dev libboost-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DONNXD_BUILD_TESTS=OFF \
    && ninja -C /build onnxd \
    && strip /build/onnxd

# ---- CUDA build (only built for --target cuda) -------------------------------------------------
# Ubuntu 24.04 carries the same gRPC (1.51) and protobuf (3.21) as Debian 12. The runtime package
# list is derived from `ldd` of the binary just built (deploy/docker/runtime-packages.sh, which
# fails on a library no package owns), so it cannot drift from what onnxd links.
FROM ${CUDA_DEVEL_IMAGE} AS build-cuda
ARG CUDA_CMAKE_ARGS="-DONNXD_CUDA=ON"
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       g++ cmake ninja-build pkg-config ca-certificates \
       libonnx-dev libprotobuf-dev protobuf-compiler libopenblas-dev \
       libgrpc++-dev protobuf-compiler-grpc nlohmann-json3-dev libboost-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# CUDA_CMAKE_ARGS is a list of flags: it is split on purpose.
# hadolint ignore=SC2086
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DONNXD_BUILD_TESTS=OFF ${CUDA_CMAKE_ARGS} \
    && ninja -C /build onnxd \
    && strip /build/onnxd \
    && deploy/docker/runtime-packages.sh /build/onnxd > /build/runtime-packages

# ---- CUDA runtime: docker build --target cuda ----------------------------------------------------
# onnxd loads cuBLAS, cuBLASLt and cuDNN with dlopen when a model first needs the GPU, so ldd does
# not list them: they come from the CUDA runtime base image (its cuDNN variant).
FROM ${CUDA_RUNTIME_IMAGE} AS cuda
COPY --from=build-cuda /build/runtime-packages /tmp/runtime-packages
# hadolint ignore=DL3008
RUN apt-get update \
    && xargs -a /tmp/runtime-packages env DEBIAN_FRONTEND=noninteractive \
       apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
    && useradd --system --user-group --uid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin onnxd
COPY --from=build-cuda /build/onnxd /usr/local/bin/onnxd
COPY deploy/docker/healthcheck.sh /usr/local/bin/onnxd-healthcheck
COPY models /models
USER 10001:10001
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["onnxd-healthcheck", "8000", "/v2/health/ready"]
ENTRYPOINT ["onnxd", "--model-repository", "/models"]

# ---- CPU runtime (default target) --------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# One package per line, each owning libraries that `ldd onnxd` lists (checked in CI).
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       libstdc++6 \
       libgcc-s1 \
       zlib1g \
       libonnx1 \
       libprotobuf32 \
       libopenblas0-pthread \
       libgfortran5 \
       libquadmath0 \
       libgrpc++1.51 \
       libgrpc29 \
       libabsl20220623 \
       libc-ares2 \
       libre2-9 \
       libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --uid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin onnxd
COPY --from=build /build/onnxd /usr/local/bin/onnxd
COPY deploy/docker/healthcheck.sh /usr/local/bin/onnxd-healthcheck
COPY models /models
USER 10001:10001
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["onnxd-healthcheck", "8000", "/v2/health/ready"]
ENTRYPOINT ["onnxd", "--model-repository", "/models"]
