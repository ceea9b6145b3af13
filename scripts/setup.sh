#!/usr/bin/env bash
# Prepare the project's virtual environment; safe to re-run.
#
# llama-cpp-python is compiled from source (about 7 minutes on 2 cores) with the portable CPU
# flags below: a native build enables AMX kernels that die with SIGILL on these machines.
# The built wheel is kept in $PONDER_WHEELS (default ~/.cache/ponder/wheels) and reused by
# every later set-up on this machine, so the compile happens once.
set -euo pipefail

VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-dev}
LLAMA_CPP_VERSION=${LLAMA_CPP_VERSION:-0.3.36}
WHEELS=${PONDER_WHEELS:-$HOME/.cache/ponder/wheels}
export CMAKE_ARGS=${PONDER_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip)

wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  echo "Building llama-cpp-python $LLAMA_CPP_VERSION (once per machine, about 7 minutes)..."
  mkdir -p "$WHEELS"
  "${PIP[@]}" wheel --no-deps --no-binary llama-cpp-python "llama-cpp-python==$LLAMA_CPP_VERSION" -w "$WHEELS"
  wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl | head -n 1)
fi
"${PIP[@]}" install --quiet "$wheel"
"${PIP[@]}" install --quiet --find-links "$WHEELS" -e ".[$EXTRAS]"
# llama.cpp's own server (it batches concurrent requests), from the same pinned llama.cpp, cached
# like the wheel (about 5-8 minutes once per machine). Set-up goes on without it: the llama-server
# tests and benchmarks/peers' llama-server rows then skip. PONDER_SKIP_LLAMA_SERVER=1 leaves it out.
if [ "${PONDER_SKIP_LLAMA_SERVER:-0}" != 1 ]; then
  log=${TMPDIR:-/tmp}/ponder-llama-server-build.log
  LLAMA_CPP_VERSION=$LLAMA_CPP_VERSION PYTHON="$VENV/bin/python" "$(dirname "$0")/llama-server.sh" --build-only \
    >/dev/null 2>"$log" \
    || echo "llama-server did not build (see $log): the llama-server tests will be skipped"
fi
# A browser for the trace viewer's test (tests/unit/test_view_browser.py skips without one):
# Playwright cannot download its own here, so use the distribution's Chromium when it can be had.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (timeout 600 apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 600 apt-get install -y -qq chromium >/dev/null 2>&1; } \
    || echo "no Chromium: the browser test of the trace viewer will be skipped") || true
fi
echo "ready: $VENV (llama-cpp-python from $wheel)"
