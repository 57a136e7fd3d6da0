"""The quickstart's sandbox (`tests.sandbox`) writes an inventory that wsgideploy's own loader accepts."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox import manage


def test_the_sandbox_inventory_loads_with_the_real_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manage, "INVENTORY", tmp_path / "inventories" / "sandbox.toml")
    monkeypatch.delenv("SUDO_UID", raising=False)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "hello").symlink_to(manage.PROJECT / "examples" / "hello")
    manage.write_inventory(manage.State(ssh_port=2222, http_port=8081, created_at="2026-12-04"))
    text = manage.INVENTORY.read_text()
    assert text.startswith(manage.GENERATED_MARK) and "python3 -m tests.sandbox down" in text
    from wsgideploy.inventory import load_stage
    stage = load_stage(manage.INVENTORY)
    assert [host.alias for host in stage.hosts] == [manage.ALIAS]
    assert (stage.app.listen, stage.app.listen_address, stage.app.root) == (8081, "127.0.0.1", str(manage.APP_ROOT))
