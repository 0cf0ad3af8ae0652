# Optional: the official RDFox image plus a static shell, for clusters whose RDFox image has no /bin/sh.
#
#   docker build -f include/docker/rdfox.Dockerfile -t <registry>/rdfox-with-sh:7.1.1 .
#
# The pod's rdfox step runs RDFox under `/bin/sh -c` to send all output to /output/rdfox.log and to keep
# RDFox's exit status for the publish step (which then fails the pod). If `kubectl run --rm -it
# --image oxfordsemantic/rdfox:<tag> --command -- /bin/sh -c true` fails on your cluster, build this image
# and set RDFOX_IMAGE (or the jobspec's images.rdfox) to it. Nothing else changes: same user, entrypoint,
# and license handling (RDFOX_LICENSE_CONTENT from the license Secret).
ARG RDFOX_VERSION=7.1.1
FROM busybox:1.36-musl AS shell

FROM oxfordsemantic/rdfox:${RDFOX_VERSION}
# busybox's musl build is static: it needs no libraries from the RDFox image.
COPY --from=shell /bin/busybox /bin/sh
