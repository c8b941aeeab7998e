"""The organiser's commands: import, settings, export, report and purge, for scripting."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from eventapp.core import queries as shared
from eventapp.core.db import Database
from eventapp.core.models import Attendee
from eventapp.core.validation import InvalidInput
from eventapp.enums import PitchState
from eventapp.organizing import cli, forms
from eventapp.organizing.event_settings import EventSettings
from eventapp.organizing.rules import clean_settings
from eventapp.voting import queries
from eventapp.voting.queries import VoteRow
from eventapp.voting.rules import PitchSpec, create_event


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "eventapp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_settings_export_report_and_purge(tmp_path: Path) -> None:
    code = json.loads(_cli(tmp_path, "create", "Projektbörse", "--json").stdout)["code"]

    bad = tmp_path / "bad.csv"
    bad.write_text("title;presenter\nSmart Parking;Stadtwerke\n;IHK\nsmart parking;x\n")
    result = _cli(tmp_path, "import-pitches", code, str(bad))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "row 3: title is required",
        "row 4: 'smart parking' repeats row 2",
        "nothing imported",
    ]

    good = tmp_path / "pitches.csv"
    good.write_text("title;presenter\nSmart Parking;Stadtwerke\nWärmewende;Klimaagentur\n")
    assert _cli(tmp_path, "import-pitches", code, str(good), "--dry-run").stdout == (
        "checked 2 pitches\n"
    )
    assert _cli(tmp_path, "import-pitches", code, str(good)).stdout == "imported 2 pitches\n"
    partners = tmp_path / "partners.csv"
    partners.write_text("Organisation,Typ\nStadtwerke,Unternehmen\nHochschule,Forschung\n")
    assert _cli(tmp_path, "import-partners", code, str(partners)).returncode == 0

    settings = _cli(
        tmp_path,
        "settings",
        code,
        "--date",
        "2026-01-10",
        "--retention-days",
        "30",
        "--results",
        "live",
        "--scale",
        "1-4",
        "--labels",
        "nein|eher nein|eher ja|ja",
        "--matrix",
        "Start-up: Forschung|KMU: Hochschule",
    )
    assert settings.returncode == 0, settings.stderr
    refused = _cli(tmp_path, "settings", code, "--date", "10.01.2026")
    assert refused.returncode == 2 and "date must look like 2026-05-14" in refused.stderr

    db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    event = db.read(queries.event_by_code, code)
    assert (event.date, event.retention_days, event.live_results) == ("2026-01-10", 30, True)
    assert (event.scale_min, event.scale_max) == (1, 4)
    assert json.loads(event.scale_labels) == ["nein", "eher nein", "eher ja", "ja"]
    assert json.loads(event.org_type_matrix) == {"Start-up": ["Forschung"], "KMU": ["Hochschule"]}
    assert len(db.read(shared.partners_of_event, event.id)) == 2
    state = db.read(queries.load_state, event.id)
    first = state.pitches[0].id
    db.call(
        queries.set_pitch_states, event.id, states={first: PitchState.OPEN}, current_pitch_id=first
    )
    voters = [
        db.call(queries.add_attendee, Attendee(event_id=event.id, token=f"t{i}" * 20, name=f"N{i}"))
        for i in range(3)
    ]
    db.call(
        queries.commit_votes,
        [VoteRow(event.id, first, a.id or 0, s, 1) for a, s in zip(voters, (4, 3, 2), strict=True)],
    )
    db.close()

    out = tmp_path / "votes.xlsx"
    assert (
        _cli(
            tmp_path, "export", code, "--what", "votes", "--format", "xlsx", "-o", str(out)
        ).returncode
        == 0
    )
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    header = rows[0]
    parking = dict(zip(header, rows[1], strict=False))
    assert (parking["pitch"], parking["n"], parking["mean"], parking["median"]) == (
        "Smart Parking",
        3,
        3.0,
        3,
    )
    raw = _cli(tmp_path, "export", code, "--what", "raw-votes", "--format", "csv").stdout
    assert sorted(r["score"] for r in csv.DictReader(io.StringIO(raw.lstrip("\ufeff")))) == [
        "2",
        "3",
        "4",
    ]

    pdf = tmp_path / "report.pdf"
    assert _cli(tmp_path, "report", code, "-o", str(pdf)).returncode == 0
    assert pdf.read_bytes().startswith(b"%PDF")

    # 2026-01-10 + 30 days is long past: the retention period is over.
    assert _cli(tmp_path, "purge", "--expired").stdout == f"purged {code}\n"
    assert _cli(tmp_path, "links", code).returncode == 1


def test_purge_waits_for_the_retention_period_unless_forced(tmp_path: Path) -> None:
    code = json.loads(_cli(tmp_path, "create", "Forum", "--json").stdout)["code"]
    early = _cli(tmp_path, "purge", code)
    assert early.returncode == 2 and "is kept until" in early.stderr
    assert _cli(tmp_path, "purge", code, "--force").stdout == f"purged {code}\n"
    missing = _cli(tmp_path, "export", code, "--what", "votes")
    assert missing.returncode == 1 and f"no event with code '{code}'" in missing.stderr


def test_the_form_and_the_command_line_give_the_rule_the_same_typed_settings(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'settings.db'}")
    db.create_all()
    event = create_event("Projektbörse", [PitchSpec("Smart Parking")], db=db)
    parser = argparse.ArgumentParser()
    cli.add_parsers(parser.add_subparsers(dest="command"))

    def argv(*options: str) -> EventSettings:
        args = parser.parse_args(["settings", event.code, *options])
        return cli.settings_input(args, EventSettings.of_event(event))

    from_cli = argv(
        *("--name", "Forum", "--languages", "de, en", "--scale", "1-4", "--results", "live"),
        *("--labels", "nein|eher nein|eher ja|ja", "--topics", "Mobilität|Energie"),
        *("--matrix", "Start-up: Forschung|KMU: Hochschule", "--networking", "on"),
        *("--retention-days", "30"),
    )
    form = forms.settings_form(event) | {
        "name": "Forum",
        "languages": "de, en",
        "scale_min": "1",
        "scale_max": "4",
        "results": "live",
        "scale_labels": "nein\neher nein\neher ja\nja",
        "topics": "Mobilität\nEnergie",
        "org_type_matrix": "Start-up: Forschung\nKMU: Hochschule",
        "networking": "on",
        "retention_days": "30",
    }
    assert from_cli == forms.settings_input(form)
    values = clean_settings(from_cli)
    assert (values["name"], values["languages"], values["scale_max"]) == ("Forum", "de,en", 4)
    assert json.loads(str(values["org_type_matrix"])) == {
        "Start-up": ["Forschung"],
        "KMU": ["Hochschule"],
    }
    # Options not given keep the event's values; a bad number is refused as on the page.
    assert argv() == EventSettings.of_event(event)
    with pytest.raises(InvalidInput) as refused:
        argv("--scale", "x-5")
    assert refused.value.message == "must be two whole numbers 0 ≤ min < max ≤ 10"
    db.close()
