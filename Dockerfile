# syntax=docker/dockerfile:1
#
# otlp-mmap images. Targets (see README.md (Running in containers and Kubernetes)):
#
#   dev        Node 20, Rust, PostgreSQL, python3, build tools: the development image.
#                docker build --target dev -t otlp-mmap-dev .
#                docker run --rm -v "$PWD:/app" -w /app otlp-mmap-dev npm test
#   agent      the init-container image: /autoinstrumentation/ holds a self-contained
#              agent (package + production node_modules + native binary +
#              autoinstrumentation.js); busybox gives `cp`. This is the layout the
#              OpenTelemetry Operator's Node.js injection expects.
#                docker build --target agent -t otlp-mmap-agent .
#   collector  `otlp-mmap collect` as a non-root user, configured by OTEL_EXPORTER_OTLP_*,
#              with a HEALTHCHECK (`otlp-mmap health`: GET /healthz on port 13133).
#                docker build --target collector -t otlp-mmap-collector .
#   package    only the `npm pack` tarball (with the native binary for the image's
#              platform), written to the host:
#                docker build --target package --output type=local,dest=./dist-package .
#
# Everything is built for glibc (Debian bookworm, `linux-<arch>-gnu`). For musl
# (Alpine) see the `*-musl` targets at the end and README.md (Running in containers and Kubernetes).

ARG NODE_VERSION=20
ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

# ---------------------------------------------------------------- toolchains
# Debian bookworm's own rustc/cargo (1.63) are too old for the crate; take the
# toolchain from the official Rust image of the same Debian release instead.
FROM rust:${RUST_VERSION}-slim-${DEBIAN} AS rust

FROM node:${NODE_VERSION}-${DEBIAN}-slim AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 ca-certificates git \
 && rm -rf /var/lib/apt/lists/*
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:$PATH
COPY --from=rust /usr/local/rustup /usr/local/rustup
COPY --from=rust /usr/local/cargo /usr/local/cargo
RUN rustc --version && cargo --version && node --version

# ---------------------------------------------------------------- dev
# The development image: the whole test suite runs in it. PostgreSQL's server
# binaries are in /usr/lib/postgresql/15/bin; the test support starts its own
# server (initdb/pg_ctl through `runuser -u postgres` when run as root).
FROM toolchain AS dev
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql postgresql-client procps util-linux \
 && rm -rf /var/lib/apt/lists/*
ENV PG_BIN_DIR=/usr/lib/postgresql/15/bin
WORKDIR /app
CMD ["bash"]

# ---------------------------------------------------------------- builder
FROM toolchain AS builder
WORKDIR /src
# Dependencies first (cached while only sources change). --ignore-scripts: the
# package's own `install` script builds the addon, which needs the sources.
COPY package.json package-lock.json ./
# (`npm install` only when `npm ci` refuses a lock file that lacks other
# platforms' optional packages; it installs the same locked versions.)
RUN npm ci --ignore-scripts --no-audit --no-fund \
 || { echo 'npm ci refused the lock file; installing the locked versions with npm install' >&2; \
      npm install --ignore-scripts --no-audit --no-fund; }
COPY . .
# `npm run build`: the native addon (cargo, copied to
# ./otlp-mmap.<platform>.node) and the TypeScript (dist/).
RUN npm run build
# The /autoinstrumentation tree, made by the same script the tests exercise.
RUN node scripts/build-autoinstrumentation.js /autoinstrumentation
# The distributable package: npm pack with this platform's binary.
RUN mkdir -p /package && npm pack --pack-destination /package

# ---------------------------------------------------------------- musl (Alpine)
# Apps on Alpine need the linux-<arch>-musl binary: the glibc tree above fails
# to load there, and the loader's error names the platform (linux-x64-musl).
# These targets build the same tree on Alpine:
#   docker build --target agent-musl -t otlp-mmap-agent:0.1.0-musl .
#   docker build --target collector-musl -t otlp-mmap-collector:0.1.0-musl .
FROM rust:${RUST_VERSION}-alpine AS rust-musl

FROM node:${NODE_VERSION}-alpine AS builder-musl
RUN apk add --no-cache build-base python3 git
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:$PATH
COPY --from=rust-musl /usr/local/rustup /usr/local/rustup
COPY --from=rust-musl /usr/local/cargo /usr/local/cargo
# rustup's musl toolchain links statically by default, which cannot produce the
# shared library (cdylib) Node loads: link against musl dynamically.
ENV RUSTFLAGS="-C target-feature=-crt-static"
WORKDIR /src
COPY package.json package-lock.json ./
# (`npm install` only when `npm ci` refuses a lock file that lacks other
# platforms' optional packages; it installs the same locked versions.)
RUN npm ci --ignore-scripts --no-audit --no-fund \
 || { echo 'npm ci refused the lock file; installing the locked versions with npm install' >&2; \
      npm install --ignore-scripts --no-audit --no-fund; }
COPY . .
RUN npm run build
RUN node scripts/build-autoinstrumentation.js /autoinstrumentation

FROM busybox:1.37 AS agent-musl
COPY --from=builder-musl /autoinstrumentation /autoinstrumentation
CMD ["cp", "-r", "/autoinstrumentation/.", "/otel-auto-instrumentation-nodejs"]

FROM node:${NODE_VERSION}-alpine AS collector-musl
COPY --from=builder-musl /autoinstrumentation /opt/otlp-mmap
RUN ln -s /opt/otlp-mmap/collector/bin.js /usr/local/bin/otlp-mmap \
 && mkdir -p /var/run/otlp-mmap \
 && chown 1000:1000 /var/run/otlp-mmap
ENV OTLP_MMAP_DIR=/var/run/otlp-mmap \
    OTLP_MMAP_HEALTH_PORT=13133 \
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 \
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
USER 1000:1000
EXPOSE 13133
# `otlp-mmap health` asks GET /healthz and exits 0 when the collector answers 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "/opt/otlp-mmap/collector/bin.js", "health", "--port", "13133"]
ENTRYPOINT ["node", "/opt/otlp-mmap/collector/bin.js"]
CMD ["collect", "--dir", "/var/run/otlp-mmap", "--health-port", "13133"]

# ---------------------------------------------------------------- package
FROM scratch AS package
COPY --from=builder /package/ /

# ---------------------------------------------------------------- agent
# Init-container image. The Operator (and deploy/kubernetes/deployment.yaml)
# runs: cp -r /autoinstrumentation/. <emptyDir>
# and starts the app with NODE_OPTIONS="--require <emptyDir>/autoinstrumentation.js".
FROM busybox:1.37 AS agent
COPY --from=builder /autoinstrumentation /autoinstrumentation
CMD ["cp", "-r", "/autoinstrumentation/.", "/otel-auto-instrumentation-nodejs"]

# ---------------------------------------------------------------- collector
# The collector reads the files the apps write (mode 0600), so it must run as
# the same uid as the app: 1000 (the `node` user of the official Node images).
FROM node:${NODE_VERSION}-${DEBIAN}-slim AS collector
COPY --from=builder /autoinstrumentation /opt/otlp-mmap
RUN ln -s /opt/otlp-mmap/collector/bin.js /usr/local/bin/otlp-mmap \
 && mkdir -p /var/run/otlp-mmap \
 && chown 1000:1000 /var/run/otlp-mmap
ENV OTLP_MMAP_DIR=/var/run/otlp-mmap \
    OTLP_MMAP_HEALTH_PORT=13133 \
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 \
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
USER 1000:1000
EXPOSE 13133
# `otlp-mmap health` asks GET /healthz and exits 0 when the collector answers 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "/opt/otlp-mmap/collector/bin.js", "health", "--port", "13133"]
ENTRYPOINT ["node", "/opt/otlp-mmap/collector/bin.js"]
CMD ["collect", "--dir", "/var/run/otlp-mmap", "--health-port", "13133"]

