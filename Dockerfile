# syntax=docker/dockerfile:1
# One image, three static binaries: mtscn-scheduler (runs as non-root),
# mtscn-node (runs privileged on the host, see manifests/node-agent) and
# mtscnctl, plus the gVisor artifacts the installer copies to nodes. Build
# with `make image`.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=v0.0.0-dev
RUN CGO_ENABLED=0 make build VERSION=${VERSION}

# gVisor for `mtscn-node install --sandboxes=gvisor`: runsc and gVisor's
# containerd shim, built from the gvisor.dev/gvisor Go module at the version
# make e2e runs (static, CGO_ENABLED=0). The installer copies them from
# /opt/mtscn-artifacts/gvisor (its --gvisor-artifacts default) to the host.
FROM golang:1.26-bookworm AS gvisor
ARG GVISOR_VERSION=v0.0.0-20260905035102-160fafc42237
WORKDIR /gvisor
RUN go mod init mtscn.io/gvisor-build && \
    go get gvisor.dev/gvisor/runsc@${GVISOR_VERSION} gvisor.dev/gvisor/shim@${GVISOR_VERSION} && \
    CGO_ENABLED=0 go build -trimpath -o /out/runsc gvisor.dev/gvisor/runsc && \
    CGO_ENABLED=0 go build -trimpath -o /out/containerd-shim-runsc-v1 gvisor.dev/gvisor/shim

# Kata's release cannot be built here: mount an extracted Kata release at
# /opt/mtscn-artifacts/kata (pkg/node/install/README.md, "Artifacts").
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/mtscn-scheduler /src/bin/mtscn-node /src/bin/mtscnctl /usr/local/bin/
COPY --from=gvisor /out/runsc /out/containerd-shim-runsc-v1 /opt/mtscn-artifacts/gvisor/
COPY --from=build /src/manifests/scheduler/scheduler-config.yaml /etc/mtscn/scheduler-config.yaml
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/mtscn-scheduler"]
CMD ["--config=/etc/mtscn/scheduler-config.yaml"]
