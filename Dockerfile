# syntax=docker/dockerfile:1

# The subscription worker (and the starter CLI), built as static binaries and
# shipped in a distroless image that runs as a non-root user.
#
#   docker build -t withings-plus/subscriptions .
#   docker run --rm -e TEMPORAL_ADDRESS=… -e STRIPE_SECRET_KEY -e SENDGRID_API_KEY -e SUBSCRIPTIONS_PAYLOAD_KEYS withings-plus/subscriptions
#   docker run --rm --entrypoint /starter withings-plus/subscriptions state --account acc-1

# Build stage: the Go version matches go.mod's go directive (major.minor).
FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0

# Dependencies first, so this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/worker ./worker \
 && go build -trimpath -ldflags="-s -w" -o /out/starter ./starter

# Runtime stage: no shell, no package manager, uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /worker
COPY --from=build /out/starter /starter
USER nonroot:nonroot
ENTRYPOINT ["/worker"]
