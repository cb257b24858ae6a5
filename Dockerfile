# inception-cudnn serve, CPU (oneDNN). Build:  docker build -t inception-cudnn .
# Run:  docker run -p 8000:8000 -v $PWD/weights:/mnt/models inception-cudnn \
#         serve --host 0.0.0.0 --model inception_v4 --weights /mnt/models/inception_v4.safetensors
# The CUDA backend is not built here (no nvcc in this image); see README "Serving".

FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libdnnl-dev cmake g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# onnxruntime-node is a dev/peer dependency for the ONNX comparison; skip its download of GPU binaries.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci
COPY tsconfig.json CMakeLists.txt ./
COPY native ./native
COPY src ./src
COPY data ./data
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libdnnl2 tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/lib ./lib
COPY --from=build /app/data ./data
COPY --from=build /app/build/Release/inception_cpu.node ./build/Release/inception_cpu.node
RUN chmod +x lib/cli.js && ln -s /app/lib/cli.js /usr/local/bin/inception-cudnn
USER node
EXPOSE 8000
# tini forwards SIGTERM so that serve drains (answers every accepted request) before exiting.
ENTRYPOINT ["tini", "--"]
CMD ["inception-cudnn", "serve", "--host", "0.0.0.0", "--port", "8000", "--model", "inception_v4", "--weights", "/mnt/models/model.safetensors"]
