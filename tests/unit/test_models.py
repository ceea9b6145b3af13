"""Resolving model names to checked GGUF paths (files are only inspected, never loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ponder.core.errors import InvalidModelError, ModelNotFoundError
from ponder.engines.llama.models import BUILTIN_MODELS, DEFAULT_MODEL, check_gguf, resolve_model


@pytest.fixture
def gguf_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + b"\x00" * 16)
    return path


def test_gguf_magic_passes(gguf_file: Path) -> None:
    assert check_gguf(gguf_file) == gguf_file
    assert resolve_model(str(gguf_file)) == gguf_file


def test_gguf_magic_passes_without_gguf_suffix(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF\x03\x00")
    assert resolve_model(str(path)) == path


@pytest.mark.parametrize("content", [b"not a model", b"", b"GGU", b"gguf1234", b"\x00GGUF"])
def test_other_files_are_invalid(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(InvalidModelError, match="not a GGUF"):
        check_gguf(path)
    with pytest.raises(InvalidModelError):
        resolve_model(str(path))


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    with pytest.raises(ModelNotFoundError, match="not found"):
        check_gguf(missing)
    with pytest.raises(ModelNotFoundError):
        resolve_model(str(missing))


def test_directory_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not a file"):
        check_gguf(tmp_path)
    with pytest.raises(ModelNotFoundError, match="not a file"):
        resolve_model(str(tmp_path))


def test_unknown_bare_name_lists_builtins() -> None:
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("no-such-model")
    message = str(info.value)
    assert "no-such-model" in message
    for name in BUILTIN_MODELS:
        assert name in message


@pytest.mark.parametrize("name", [None, "", DEFAULT_MODEL])
def test_default_model_is_the_packaged_file(name: str | None) -> None:
    path = resolve_model(name)
    packaged = BUILTIN_MODELS[DEFAULT_MODEL]
    assert path.is_file()
    assert path.name == packaged.filename
    assert packaged.package in path.parts


@pytest.mark.parametrize("name", ["hf:bad", "hf:owner/repo", "hf:owner/repo/"])
def test_malformed_hub_reference_is_not_found(name: str) -> None:
    with pytest.raises(ModelNotFoundError, match=r"OWNER/REPO/FILE\.gguf"):
        resolve_model(name)
