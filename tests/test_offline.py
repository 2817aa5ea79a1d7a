"""pada.offline: the offline environment fills unset keys and never overrides the user's."""

from __future__ import annotations

import os

import pytest

from pada import offline


def test_apply_fills_unset_keys_and_keeps_the_users(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in offline.OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a user with hub access
    offline.apply()
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
