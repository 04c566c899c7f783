# syntax=docker/dockerfile:1
# One image, three static binaries: mtscn-scheduler (runs as non-root),
# mtscn-node (runs privileged on the host, see manifests/node-agent) and
# mtscnctl. Build with `make image`.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=v0.0.0-dev
RUN CGO_ENABLED=0 make build VERSION=${VERSION}

# Kata artifacts for `mtscn-node install` are copied into
# /opt/kata-artifacts by a release pipeline stage (not part of this build).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/mtscn-scheduler /src/bin/mtscn-node /src/bin/mtscnctl /usr/local/bin/
COPY --from=build /src/manifests/scheduler/scheduler-config.yaml /etc/mtscn/scheduler-config.yaml
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/mtscn-scheduler"]
CMD ["--config=/etc/mtscn/scheduler-config.yaml"]
