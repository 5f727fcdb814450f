# The crosstalk binary in an image of its own: static (no C library), run as
# a user without privileges, everything it keeps under the one volume /data.
#
#   docker build -t crosstalk .
#   docker run -d --name crosstalk -v crosstalk-data:/data \
#     -p 1863:1863 -p 1864:1864 -p 6891:6891 -p 8074:8074 -p 11319:11319 -p 5060:5060 -p 8080:8080 crosstalk
#   docker exec crosstalk crosstalk user add --email you@example.com --password SECRET
#
# The build stamps the commit into `crosstalk version` when the context is a
# git clone (.git is not ignored for that reason).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/crosstalk ./cmd/crosstalk \
 && mkdir -p /out/data

# distroless/static: CA certificates, /etc/passwd with "nonroot" (65532), no
# shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/crosstalk /usr/local/bin/crosstalk
# A new named volume takes this directory's owner, so the server can write it.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV CROSSTALK_DATA=/data
VOLUME /data
# MSNP (and MySpaceIM on the same port), switchboard, MSNFTP relay,
# Gadu-Gadu, IMIP, HTTP (GG drive, /metrics, /healthz).
EXPOSE 1863 1864 6891 8074 11319 5060 8080
ENTRYPOINT ["/usr/local/bin/crosstalk"]
CMD ["serve"]
