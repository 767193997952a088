# The image every pipeline step runs in on Kubeflow: Debian 12, its Python 3.11, and the
# project's locked environment (uv.lock: the same pinned versions as a local run). Code is not
# baked in: ZenML ships it per run through the artifact store, so this image changes only when
# the lock does. Built by ZenML's image builder from the settings in configs/<pipeline>.yaml.
FROM debian:bookworm-slim

# python3: the interpreter the lock targets (3.11); libgomp1: XGBoost's OpenMP runtime;
# Prophet's wheel bundles CmdStan and its model, which need only libstdc++ (in the base).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates libgomp1 \
 && rm -rf /var/lib/apt/lists/*

ARG UV_VERSION=0.13.8
RUN python3 -m pip install --no-cache-dir --break-system-packages "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=/usr/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv
WORKDIR /app
COPY pyproject.toml uv.lock ./
# --frozen: install exactly the lock, fail rather than re-resolve; no dev tools in the image.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
