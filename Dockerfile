# Container image of iam-orchestrator: the daemon is compiled into one
# self-contained executable in the Deno image, then copied into a distroless
# base that has glibc but no shell. Build from the repository root:
#
#   docker build -t iam-orchestrator .
#
# The build downloads the npm dependencies and Deno's runtime (denort), so
# it needs the npm registry and Deno's download server. Run it with the
# engine socket and its group, so that the non-root user can reach it:
#
#   docker run -d --name iam-orchestrator \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v iam-orchestrator-state:/var/lib/iam-orchestrator \
#     -e ApiSettings__BaseUrl=https://iam.example.com \
#     -e CustomerSettings__CustomerName=contoso \
#     iam-orchestrator
#
# docs/operations.md describes the image, its permissions and its settings.

ARG DENO_VERSION=2.9.6

# The build stage runs on the target platform (emulated in a multi-platform
# build) and compiles for it. TARGETARCH is set by BuildKit; the legacy
# builder leaves it empty, so the machine's own architecture is used then.
FROM denoland/deno:${DENO_VERSION} AS build
ARG TARGETARCH
WORKDIR /src
COPY deno.json deno.lock ./
COPY src ./src
COPY scripts ./scripts
RUN arch="${TARGETARCH:-$(uname -m)}" \
  && case "$arch" in \
      amd64|x86_64) target=x86_64-unknown-linux-gnu ;; \
      arm64|aarch64) target=aarch64-unknown-linux-gnu ;; \
      *) echo "Unsupported architecture \"$arch\": expected amd64 or arm64" >&2; \
         exit 1 ;; \
    esac \
  && deno run --allow-run=deno --allow-read=. --allow-write=dist --allow-env \
    scripts/compile.ts --target "$target" --out-dir dist \
    --state-dir /var/lib/iam-orchestrator \
    --config-file /etc/iam-orchestrator/appsettings.json \
  && mv "dist/iam-orchestrator-$target" /iam-orchestrator \
  && mkdir -p /layout/var/lib/iam-orchestrator /layout/etc/iam-orchestrator

# cc-debian12 has the glibc and libgcc that the executable links against.
# The nonroot tag runs as uid and gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /iam-orchestrator /usr/local/bin/iam-orchestrator
COPY --from=build --chown=65532:65532 /layout/var/lib/iam-orchestrator \
  /var/lib/iam-orchestrator
COPY --from=build /layout/etc/iam-orchestrator /etc/iam-orchestrator

# The settings file, if any, is /etc/iam-orchestrator/appsettings.json: the
# daemon reads appsettings.json from its working directory.
WORKDIR /etc/iam-orchestrator
ENV OrchestratorSettings__StateDirectory=/var/lib/iam-orchestrator \
    OrchestratorSettings__StatusPort=8080 \
    OrchestratorSettings__StatusHost=0.0.0.0
VOLUME ["/var/lib/iam-orchestrator"]
EXPOSE 8080
USER 65532:65532

# `healthcheck` requests /healthz on 127.0.0.1:StatusPort and gives up
# after 5 s; the image has no shell or curl for a health check of its own.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/iam-orchestrator", "healthcheck"]

# The daemon drains running jobs for ShutdownGraceSeconds (30 s by
# default) after SIGTERM: give `docker stop` more than that with --time.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/iam-orchestrator", "run"]
