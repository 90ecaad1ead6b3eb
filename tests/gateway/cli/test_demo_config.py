"""`airlock demo`'s configuration: it loads, and it anchors the audit chain with a key kept out
of the store, made once and kept across runs."""

from __future__ import annotations

import stat
from pathlib import Path

from gateway.cli.demo import write_config
from gateway.config import load_settings
from store import CheckpointKey


def test_demo_config_anchors_the_audit_chain(tmp_path: Path) -> None:
    """The demo signs checkpoints with an Ed25519 key only its owner can read, beside the store."""
    settings = load_settings(write_config(tmp_path))
    key = tmp_path / "audit-checkpoint.key"
    assert settings.audit.checkpoint_file == str((tmp_path / "audit-checkpoints.jsonl").resolve())
    assert settings.audit.checkpoint_key_file == str(key.resolve())
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    CheckpointKey.load(key.read_text(encoding="utf-8"))  # a valid Ed25519 private key


def test_demo_keeps_its_checkpoint_key_across_runs(tmp_path: Path) -> None:
    """A second demo run keeps the key that signed the first run's checkpoints."""
    write_config(tmp_path)
    first = (tmp_path / "audit-checkpoint.key").read_bytes()
    write_config(tmp_path)
    assert (tmp_path / "audit-checkpoint.key").read_bytes() == first
