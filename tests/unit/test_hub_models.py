"""`hf:OWNER/REPO/FILE.gguf` model names, resolved offline from a local Hugging Face cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from ponder.core.errors import ModelNotFoundError
from ponder.engines.llama.models import resolve_model

pytest.importorskip("huggingface_hub")

REVISION = "0123456789abcdef0123456789abcdef01234567"


def make_cache(root: Path, repo: str, filename: str, content: bytes) -> None:
    """The on-disk layout huggingface_hub uses: refs/main -> snapshots/REVISION/FILE."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(REVISION)
    snapshot = folder / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    (snapshot / filename).write_bytes(content)


def test_a_cached_hub_model_resolves_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cache(tmp_path, "someone/tiny-model", "tiny.gguf", b"GGUF" + b"\0" * 32)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    path = resolve_model("hf:someone/tiny-model/tiny.gguf")
    assert path.name == "tiny.gguf" and path.read_bytes().startswith(b"GGUF")


def test_a_missing_hub_model_is_a_clear_error_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match=r"could not fetch hub model 'someone/absent/x\.gguf'"):
        resolve_model("hf:someone/absent/x.gguf")
