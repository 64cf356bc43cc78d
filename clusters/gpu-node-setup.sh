#!/usr/bin/env bash
# Runs inside a kind GPU worker (docker exec): installs the NVIDIA container toolkit and makes
# nvidia containerd's default runtime, so that pods given GPUs by the device plugin see them.
# The host already injected the GPUs into this node (clusters/kind-gpu.yaml). Idempotent:
# a reused cluster runs it again.
set -euo pipefail

if ! command -v nvidia-ctk >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq gpg curl >/dev/null
  curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey \
    | gpg --batch --yes --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
  curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \
    | sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' \
    > /etc/apt/sources.list.d/nvidia-container-toolkit.list
  apt-get update -qq
  apt-get install -y -qq nvidia-container-toolkit >/dev/null
fi

if ! grep -q 'default_runtime_name = "nvidia"' /etc/containerd/config.toml 2>/dev/null; then
  nvidia-ctk runtime configure --runtime=containerd --set-as-default --config-source=command
  systemctl restart containerd
fi

nvidia-smi -L
