#!/usr/bin/env bash
# Download, where pip reaches an index, the wheels a bare GPU machine with its own torch usually lacks, for
# `python -m benchmarks.gpu_check --wheels .whl` there (x86-64 Linux, CPython 3.12 by default; set PY=3.11 etc.).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-3.12}
mkdir -p .whl
for spec in hydra-core==1.3.2 omegaconf==2.3.0 antlr4-python3-runtime==4.9.3 open_clip_torch==3.3.0 ftfy wcwidth regex \
            huggingface_hub fsspec filelock imageio-ffmpeg lpips guided-diffusion-sdk==1.0.0 safetensors; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .whl "$spec" || python3 -m pip download -q --no-deps -d .whl "$spec"
done
du -sh .whl
