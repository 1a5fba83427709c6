# The image every function's image (Dockerfile) starts from. Context filled by build.sh:
#   layers/    template.yaml's five layers as layers/eneo/Makefile builds them for AWS (one image has
#              them all: a container has no 250 MB limit, and lxml, in two of them, is the same build)
#   adapter/   eneo_local.faas and the event builders it shares with the local stack
# RUNTIME: infra/conformance's Lambda-compatible python3.12 image (debootstrap base, no image registry).
ARG RUNTIME
FROM ${RUNTIME}
COPY layers/EneoLayer/python /opt/python
COPY layers/DocumentsLayer/python /opt/python
COPY layers/ModelLayer/python /opt/python
COPY layers/WebPagesLayer/python /opt/python
COPY layers/RelayLayer/python /opt/python
COPY adapter /var/adapter
# sys.path as in Lambda (code, layers, the runtime's boto3), then the adapter.
ENV PYTHONPATH=/var/task:/opt/python:/var/runtime:/var/adapter \
    PYTHONDONTWRITEBYTECODE=1 \
    ENEO_HANDLER=app.handler \
    ENEO_EVENT=http \
    PORT=8080 \
    HOME=/tmp
