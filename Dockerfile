# lambda-reconciler container image: a static-enough Rust binary on distroless, non-root.
#   docker build -t lambda-reconciler .
#   docker run --rm -v "$PWD/manifests:/manifests:ro" -e AWS_REGION=ap-northeast-1 \
#     -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -p 9090:9090 lambda-reconciler
# Probes: GET /healthz (liveness) and GET /readyz (readiness) on port 9090.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits rebuild only the crate.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin lambda-reconciler \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin lambda-reconciler

# distroless/cc: glibc, libgcc and the CA bundle (HTTPS to AWS), no shell; uid 65532 is its nonroot user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/lambda-reconciler /usr/local/bin/lambda-reconciler
WORKDIR /
USER 65532:65532
EXPOSE 9090
# The binary is its own probe: `status` exits 0 only when the server answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/lambda-reconciler", "status", "--server", "http://127.0.0.1:9090", "-o", "json"]
ENTRYPOINT ["/usr/local/bin/lambda-reconciler"]
CMD ["run", "--manifests", "/manifests", "--listen", "0.0.0.0:9090", "--log-format", "json"]
