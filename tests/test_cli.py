"""Organisers create events from the command line and get the links, also as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from eventapp.core.db import Database
from eventapp.voting import queries
from tests.support.seeding import first_stage


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


def test_create_prints_links_as_json_and_stores_the_pitches(tmp_path: Path) -> None:
    result = _cli(
        tmp_path,
        "create",
        "Projektbörse",
        "--pitch",
        "Smart Parking|Stadtwerke",
        "--pitch",
        "Wärmewende",
        "--json",
        "--base-url",
        "https://vote.example.org",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    code = out["code"]
    assert out["name"] == "Projektbörse"
    assert out["links"]["attendee"] == f"https://vote.example.org/e/{code}"
    assert out["links"]["moderator"].startswith(f"https://vote.example.org/e/{code}/moderator/")
    assert set(out["links"]) == {"attendee", "moderator", "projector", "organizer"}

    db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    event = db.read(queries.event_by_code, code)
    state = db.read(queries.load_state, event.id)
    assert [(p.title, p.presenter) for p in state.pitches] == [
        ("Smart Parking", "Stadtwerke"),
        ("Wärmewende", ""),
    ]
    assert out["links"]["moderator"].endswith(first_stage(db, event).moderator_key)

    again = _cli(tmp_path, "links", code, "--json", "--base-url", "https://vote.example.org")
    assert json.loads(again.stdout) == out
    db.close()


def test_create_rejects_bad_input_with_a_message(tmp_path: Path) -> None:
    result = _cli(tmp_path, "create", "   ")
    assert result.returncode == 2
    assert "name is required" in result.stderr
    result = _cli(tmp_path, "create", "X", "--scale", "5-1")
    assert result.returncode == 2
    assert "scale" in result.stderr


def test_create_with_stages_and_links_per_stage(tmp_path: Path) -> None:
    result = _cli(
        tmp_path,
        "create",
        "Smart-City-Forum",
        "--stage",
        "Saal A",
        "--pitch",
        "Smart Parking|Stadtwerke",
        "--pitch",
        "Open Data",
        "--stage",
        "Saal B",
        "--pitch",
        "Wärmewende|Klimaschutzagentur",
        "--json",
        "--base-url",
        "https://vote.example.org",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    code = out["code"]
    db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    event = db.read(queries.event_by_code, code)
    stages = db.read(queries.stages_of, event.id)
    assert [s.name for s in stages] == ["Saal A", "Saal B"]
    agendas = [
        [(p.title, p.presenter) for p in db.read(queries.load_state, event.id, s.id).pitches]
        for s in stages
    ]
    assert agendas == [
        [("Smart Parking", "Stadtwerke"), ("Open Data", "")],
        [("Wärmewende", "Klimaschutzagentur")],
    ]
    root = f"https://vote.example.org/e/{code}"
    assert out["stages"] == [
        {
            "id": s.id,
            "name": s.name,
            "links": {
                "attendee": f"{root}?stage={s.id}",
                "moderator": f"{root}/moderator/{s.moderator_key}",
                "projector": f"{root}/projector/{s.projector_key}",
            },
        }
        for s in stages
    ]
    text = _cli(tmp_path, "links", code, "--base-url", "https://vote.example.org").stdout
    assert f"organizer  {root}/organizer/{event.organizer_key}" in text
    for s in stages:
        block = text.split(f"\n  {s.name}\n", 1)[1]
        assert block.startswith(f"    phone      {root}?stage={s.id}\n")
        assert f"    moderator  {root}/moderator/{s.moderator_key}\n" in block
        assert f"    projector  {root}/projector/{s.projector_key}\n" in block
    db.close()

    before = _cli(tmp_path, "create", "X", "--pitch", "A", "--stage", "Saal A")
    assert before.returncode == 2 and "(pitch_before_stage)" in before.stderr
    twice = _cli(tmp_path, "create", "X", "--stage", "Saal A", "--stage", "saal a")
    assert twice.returncode == 2 and "(bad_stage_name)" in twice.stderr
