"""Keys and operator tokens come from the environment or files; dev setup is idempotent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codec.__main__ import main
from codec.dev import prepare_dev_codec
from codec.keys import format_key_entry
from codec.settings import CodecSettings


def test_keys_and_tokens_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [format_key_entry(k, os.urandom(32)) for k in ("kid2", "kid1")]
    monkeypatch.setenv("CAREPATH_CODEC_KEYS", ",".join(entries))
    monkeypatch.setenv("CAREPATH_OPERATOR_TOKENS", " alpha , beta ")
    settings = CodecSettings()
    assert settings.keyring().key_ids == ("kid2", "kid1")
    assert settings.operator_token_values() == ("alpha", "beta")
    assert "alpha" not in repr(settings)
    assert entries[0].split(":")[1] not in repr(settings)


def test_dev_setup_files_feed_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = prepare_dev_codec(tmp_path)
    assert prepare_dev_codec(tmp_path) == env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CAREPATH_CODEC_KEYS", raising=False)
    monkeypatch.delenv("CAREPATH_OPERATOR_TOKENS", raising=False)
    settings = CodecSettings()
    assert settings.keyring().current_key_id.startswith("dev-")
    [token] = settings.operator_token_values()
    assert len(token) >= 24


def test_serve_refuses_to_start_without_operator_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREPATH_CODEC_KEYS", format_key_entry("k", os.urandom(32)))
    monkeypatch.delenv("CAREPATH_OPERATOR_TOKENS", raising=False)
    monkeypatch.delenv("CAREPATH_OPERATOR_TOKEN_FILE", raising=False)
    assert main(["serve"]) == 2
