#!/usr/bin/env bash
# The README's main job: install dependencies (Debian, when root), build, run the demo study.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends build-essential cmake pkg-config \
    libopenblas-openmp-dev libhdf5-dev libcjson-dev libnifti2-dev libgsl-dev zlib1g-dev >/dev/null
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec build/proxyseg demo "$@"
