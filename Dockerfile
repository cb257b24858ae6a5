# inception-cudnn serve, CPU (oneDNN). Build:  docker build -t inception-cudnn .
# Run:  docker run --cpus 2 --memory 2g -p 8000:8000 -p 8001:8001 -v $PWD/weights:/mnt/models inception-cudnn
# (the CMD below serves /mnt/models/model.safetensors as inception_v4, 1 instance, max batch 8,
# Open Inference Protocol over HTTP on 8000 and gRPC on 8001).
#
# Limits (README "Running in containers"): --cpus becomes a CFS quota, which serve reads from its
# cgroup: the default threads is floor(quota) (2 here), split across --instances, and the start
# line says so. --memory becomes the cgroup memory limit: serve prints what its sessions hold
# beside it and refuses to start, naming both, when they cannot fit. The CMD's --instances and
# --max-batch match --cpus 2 --memory 2g and deploy/kserve's requests and limits; change them
# together.
#
# Stage 1 builds the package exactly as it is published (npm run build: native modules, their
# prebuilds/linux-x64 layout with oneDNN and libgomp beside them, lib/), then packs it.
# Stage 2 is a runtime image with no compiler and no -dev package: it installs that tarball with
# --ignore-scripts, as a user's `npm install inception-cudnn` would. This image has no nvcc, so
# the tarball carries the CPU module only; see README "Serving" for the CUDA backend.

FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libdnnl-dev cmake g++ make ninja-build patchelf python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# onnxruntime-node is a dev dependency for the ONNX comparison; skip its download of GPU binaries.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci
COPY tsconfig.json CMakeLists.txt LICENSE README.md ./
COPY scripts ./scripts
COPY native ./native
COPY src ./src
COPY data ./data
RUN npm run build && npm pack --pack-destination /dist

FROM node:20-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /dist /dist
# @grpc/grpc-js and @grpc/proto-loader: the optional peers that serve gRPC on 8001 (global
# packages resolve from the package's folder; --ignore-scripts skips protobufjs's postinstall).
RUN npm install --global --ignore-scripts --no-audit --no-fund /dist/inception-cudnn-*.tgz '@grpc/grpc-js@^1.14.7' '@grpc/proto-loader@^0.8.1' \
 && rm -rf /dist /root/.npm
USER node
EXPOSE 8000 8001
# Ready: the sessions are built and warmed, and no SIGTERM yet (the image has no curl: node asks).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/v2/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tini forwards SIGTERM so that serve drains (answers every accepted request) before exiting.
ENTRYPOINT ["tini", "--"]
CMD ["inception-cudnn", "serve", "--host", "0.0.0.0", "--port", "8000", "--model", "inception_v4", "--weights", "/mnt/models/model.safetensors", "--instances", "1", "--max-batch", "8"]
