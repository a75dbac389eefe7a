#!/usr/bin/env bash
# The GPU half of issue 6's benchmark, as run on a lent H100/H200 (no network there, no model
# weights): `rllr bench rl` on random-initialised Qwen2-style models (timing and memory do not
# depend on weights), then the CUDA paths of the training tests.
#
#   bash scripts/gpu-bench.sh TOKENIZER_DIR OUT_DIR     (CONFIGS="qwen2-tiny" to try it on a CPU)
#
# TOKENIZER_DIR: a folder with the default model's tokenizer files (the random models reuse it).
# Each part has its own time limit so that one hang does not lose the others' output.
set -u
tok=$1; out=$2
mkdir -p "$out"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 - <<'PY' | tee -a "$out/gpu.txt"
import importlib, torch
print("torch", torch.__version__, torch.cuda.get_device_name(0))
for m in ("transformers", "peft", "accelerate", "trl", "datasets"):
    print(m, importlib.import_module(m).__version__)
PY
first=1
for cfg in ${CONFIGS:-qwen2-0.5b qwen2-1.5b}; do
  echo "== rllr bench rl --random-init $cfg"
  timeout "${BENCH_LIMIT:-300}" python3 -m rllr.cli bench rl --model "$tok" --random-init "$cfg" --steps 3 2>&1 | tee "$out/bench-$cfg.txt"
  [ $first = 1 ] || continue; first=0
  echo "== CUDA paths of the training tests"
  timeout "${TEST_LIMIT:-180}" python3 -m pytest -q -p no:cacheprovider tests/train tests/models tests/rl tests/bench 2>&1 | tail -40 | tee "$out/pytest.txt"
done
