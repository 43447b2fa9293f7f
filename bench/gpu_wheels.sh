#!/usr/bin/env bash
# Fetch, here and once, the wheels that bench/gpu_check.sh installs on the bare GPU machine
# (CPython 3.12 on x86-64 Linux, which has PyTorch, timm, torchvision, scikit-learn, numpy, scipy,
# pandas, matplotlib, safetensors, tqdm, requests, nvidia-ml-py...): the packages the training
# path imports that it lacks, at the versions requirements.lock pins, into .whl/ (git-ignored).
# Then name .whl in the device run's carry list.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(mne decorator pooch platformdirs nibabel)
PIP=${PIP:-.venv/bin/python -m pip}
mkdir -p .whl
for name in "${PKGS[@]}"; do
  pin=$(grep -i -E "^${name}==" requirements.lock) || { echo "no pin for $name in requirements.lock" >&2; exit 1; }
  $PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "$pin"
done
du -sh .whl && ls .whl
