"""examples/service/app.py mounts the service in a host application: the routes answer under its prefix."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import make_engine
from fastapi.testclient import TestClient
from server import ROOT


def test_the_mounted_service_answers_under_its_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "cycle.db")
    make_engine(db).close()
    monkeypatch.setenv("RENEW_FSM_DB", db)
    spec = importlib.util.spec_from_file_location("embedding_example", ROOT / "examples" / "service" / "app.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    with TestClient(module.host) as client:
        assert client.get("/").json() == {"assessment": "/assessment/docs"}
        assert client.get("/assessment/health").json() == {"ok": True, "cycle": "guangxi-2019-2020"}
        page = client.get("/assessment/docs").text
        assert "/assessment/static/swagger-ui-bundle.js" in page and "cdn" not in page
        assert client.get("/assessment/static/swagger-ui.css").status_code == 200
        refused = client.get("/assessment/queue")
        assert refused.status_code == 401 and refused.json()["rule"] == "sign_in_required"
