#!/usr/bin/env bash
# The in-process vLLM engine on a GPU machine, in one go: a virtual environment with
# ponder[vllm,dev], the vLLM engine's tests (the stand-in unit tests and the GPU tests with a real
# model) and benchmarks/engine_batching.py --engine vllm; prints one JSON summary on stdout (test
# counts, throughput, prompt tokens computed against requested) and exits non-zero if anything failed.
#
#   PONDER_VLLM_MODEL=Qwen/Qwen2.5-0.5B-Instruct scripts/gpu-check.sh
#
# Needs an NVIDIA GPU with CUDA, Python >= 3.11 and a package index (vLLM brings its own PyTorch);
# the model is fetched from the Hugging Face hub unless it is a local folder. Settings:
#   PONDER_VLLM_MODEL   a small chat model (default Qwen/Qwen2.5-0.5B-Instruct)
#   VENV                the environment to create or reuse (default .venv-gpu)
#   PONDER_WHEELS       a folder of prebuilt wheels (a cached llama-cpp-python, as scripts/setup.sh keeps)
#   MAX_TOKENS REPEATS  the benchmark's settings (default 128 and 3)
# Logs go to $LOGS (default ./gpu-check-logs): pip.log, tests.log, tests.xml, batching.json, batching.log.
set -uo pipefail

cd "$(dirname "$0")/.."
MODEL=${PONDER_VLLM_MODEL:-Qwen/Qwen2.5-0.5B-Instruct}
VENV=${VENV:-.venv-gpu}
WHEELS=${PONDER_WHEELS:-$HOME/.cache/ponder/wheels}
LOGS=${LOGS:-gpu-check-logs}
MAX_TOKENS=${MAX_TOKENS:-128}
REPEATS=${REPEATS:-3}
PYTHON=${PYTHON:-python3}
# llama-cpp-python (a core dependency) is compiled with the portable CPU flags of scripts/setup.sh.
export CMAKE_ARGS=${PONDER_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"}
export PONDER_VLLM_MODEL=$MODEL PYTHONUNBUFFERED=1
mkdir -p "$LOGS"

install_ok=true
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || install_ok=false
fi
if $install_ok; then
  {
    "$VENV/bin/python" -m pip install --upgrade pip \
      && "$VENV/bin/python" -m pip install --find-links "$WHEELS" -e ".[vllm,dev]"
  } >"$LOGS/pip.log" 2>&1 || install_ok=false
fi

tests_rc=1
bench_rc=1
if $install_ok; then
  "$VENV/bin/python" -m pytest -p no:cacheprovider -rs -m "not model" \
    tests/unit/test_vllm_engine.py tests/integration/test_vllm_engine_gpu.py \
    --junitxml="$LOGS/tests.xml" >"$LOGS/tests.log" 2>&1
  tests_rc=$?
  "$VENV/bin/python" benchmarks/engine_batching.py --engine vllm --model "$MODEL" \
    --max-tokens "$MAX_TOKENS" --repeats "$REPEATS" >"$LOGS/batching.json" 2>"$LOGS/batching.log"
  bench_rc=$?
fi

SUMMARY_PYTHON=python3
[ -x "$VENV/bin/python" ] && SUMMARY_PYTHON=$VENV/bin/python
"$SUMMARY_PYTHON" - "$LOGS" "$MODEL" "$install_ok" "$tests_rc" "$bench_rc" <<'EOF'
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

logs, model, install_ok, tests_rc, bench_rc = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "true", *map(int, sys.argv[4:])


def gpu() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except OSError:
        return None


def version(name: str) -> str | None:
    try:
        from importlib.metadata import version as installed

        return installed(name)
    except Exception:
        return None


def tests() -> dict[str, object]:
    path = logs / "tests.xml"
    if not path.is_file():
        return {"ran": False}
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")} if suite is not None else {}
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    skipped = sorted({(case.find("skipped").get("message") or "") for case in root.iter("testcase") if case.find("skipped") is not None})
    passed = counts.get("tests", 0) - counts.get("failures", 0) - counts.get("errors", 0) - counts.get("skipped", 0)
    gpu_skipped = sum(
        1
        for case in root.iter("testcase")
        if "test_vllm_engine_gpu" in (case.get("classname") or "") and case.find("skipped") is not None
    )
    return {"ran": True, "passed": passed, **counts, "gpu_skipped": gpu_skipped, "failed": failed, "skip_reasons": skipped}


def batching() -> dict[str, object]:
    try:
        data = json.loads((logs / "batching.json").read_text())
    except (OSError, ValueError):
        tail = (logs / "batching.log").read_text().strip().splitlines()[-5:] if (logs / "batching.log").is_file() else []
        return {"ran": False, "log_tail": tail}
    return {"ran": True, **data}


summary = {
    "gpu": gpu(),
    "model": model,
    "vllm": version("vllm"),
    "torch": version("torch"),
    "install_ok": install_ok,
    "tests": tests(),
    "batching": batching(),
    "ok": False,
}
summary["ok"] = install_ok and tests_rc == 0 and bench_rc == 0 and summary["tests"].get("gpu_skipped") == 0
if not install_ok:
    pip_log = logs / "pip.log"
    summary["install_log_tail"] = pip_log.read_text().strip().splitlines()[-10:] if pip_log.is_file() else []
print(json.dumps(summary, indent=2))
sys.exit(0 if summary["ok"] else 1)
EOF
