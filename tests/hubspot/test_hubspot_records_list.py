"""`crmgate records list` on HubSpot refuses with a clear JSON error: records are read by id there."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from crmgate.doors.cli import cli
from crmgate.trail import TrailStore, generate_keypair
from tests.fakes.hubspot_fake import FakeHubSpot
from tests.hubspot.conftest import HUBSPOT_RULES, TOKEN


def test_records_list_says_what_is_supported(tmp_path: Path, monkeypatch):
    """records list with crm.kind hubspot: exit 2, one JSON error naming records get as the way."""
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    with FakeHubSpot(token=TOKEN) as fake:
        (tmp_path / "rules.yaml").write_text(HUBSPOT_RULES, encoding="utf-8")
        (tmp_path / "crmgate.yaml").write_text(
            f"crm: {{kind: hubspot, host: '{fake.url}'}}\nstore: sqlite:///trail.db\nrules: rules.yaml\n"
            "trail_key_file: trail.key\n", encoding="utf-8")
        generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
        TrailStore(f"sqlite:///{tmp_path / 'trail.db'}").close()
        r = CliRunner().invoke(cli, ["--config", str(tmp_path / "crmgate.yaml"), "records", "list", "deals"])
    assert r.exit_code == 2, (r.output, r.stderr)
    error = json.loads(r.stderr)["error"]
    assert error["code"] == "not_supported" and "records get" in error["message"]
