# syntax=docker/dockerfile:1
#
# One Dockerfile, several targets (docker-compose.yml builds each):
#   trillian-postgres    PostgreSQL 15 that loads Trillian's schema at init
#   trillian-log-server  trillian_log_server  } built from the Trillian
#   trillian-log-signer  trillian_log_signer  } version go.mod pins
#   witness              litewitness + witnessctl (filippo.io/torchwood, pinned
#                        in go.mod), one institution's witness (docs/witnessing.md)
#   trialog              the trialog CLI (default target)
#
# Trillian's servers and schema come from the module go.mod pins (the
# servers are `tool` dependencies there), so the images, the test harness
# in trillian/trilliantest and go.mod can never disagree on the version.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS modules
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download

FROM modules AS trillian-build
# Same packages and tags as trilliantest.EnsureBinaries.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -tags=postgresql -o /out/ \
        github.com/google/trillian/cmd/trillian_log_server \
        github.com/google/trillian/cmd/trillian_log_signer \
 && cp "$(go list -m -f '{{.Dir}}' github.com/google/trillian)/storage/postgresql/schema/storage.sql" /out/storage.sql

FROM postgres:15-bookworm AS trillian-postgres
# Scripts in this folder run once, when the data volume is first created.
COPY --from=trillian-build /out/storage.sql /docker-entrypoint-initdb.d/10-trillian-schema.sql

FROM alpine:3.20 AS trillian-runtime
# busybox wget serves the compose health checks (GET /healthz).
RUN adduser -D -H -u 10001 trillian
USER trillian

FROM trillian-runtime AS trillian-log-server
COPY --from=trillian-build /out/trillian_log_server /usr/local/bin/trillian_log_server
EXPOSE 8090 8091
ENTRYPOINT ["/usr/local/bin/trillian_log_server"]

FROM trillian-runtime AS trillian-log-signer
COPY --from=trillian-build /out/trillian_log_signer /usr/local/bin/trillian_log_signer
EXPOSE 8090 8091
ENTRYPOINT ["/usr/local/bin/trillian_log_signer"]

FROM modules AS witness-build
# Same packages as witnesstest.EnsureBinaries, at the version go.mod pins.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -o /out/ \
        filippo.io/torchwood/cmd/litewitness \
        filippo.io/torchwood/cmd/witnessctl

FROM alpine:3.20 AS witness
# litewitness signs through an ssh-agent (openssh-client provides it).
RUN apk add --no-cache openssh-client openssh-keygen && adduser -D -H -u 10002 witness && mkdir /data && chown witness /data
COPY --from=witness-build /out/litewitness /out/witnessctl /usr/local/bin/
COPY deploy/witness-entrypoint.sh /usr/local/bin/witness-entrypoint.sh
USER witness
VOLUME /data
EXPOSE 7380
ENTRYPOINT ["/usr/local/bin/witness-entrypoint.sh"]

FROM modules AS trialog-build
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -o /out/trialog ./cmd/trialog

FROM alpine:3.20 AS trialog
RUN adduser -D -u 10001 trialog && mkdir /data && chown trialog /data
COPY --from=trialog-build /out/trialog /usr/local/bin/trialog
USER trialog
WORKDIR /data
ENV TRIALOG_LOG=/data
ENTRYPOINT ["/usr/local/bin/trialog"]
