"""The demo command run twice (issue 13, item 10): the second run finds the port busy
before it creates anything; a later run reuses the demo event instead of adding one.
The command line help lists every option the README documents."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ROOT
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def _demo(database_url: str, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "eventapp", "demo", "--port", str(port)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("demo did not start")


def _stop(proc: subprocess.Popen[str]) -> str:
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    return out


def _codes(out: str) -> list[str]:
    return re.findall(r"event code ([A-Z0-9]{6})", out)


def test_demo_twice_refuses_the_busy_port_first_and_reuses_the_event(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    port = free_port()
    first = _demo(url, port)
    try:
        _wait_healthy(port)
        second = _demo(url, port)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1, (out, err)
        assert f"port {port}" in err and "busy" in err
        assert "event code" not in out  # no links printed as if all were well
    finally:
        first_out = _stop(first)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar_one() == 1

    third = _demo(url, port)
    try:
        _wait_healthy(port)
    finally:
        third_out = _stop(third)
    assert _codes(third_out) == _codes(first_out) and len(_codes(first_out)) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar_one() == 1
        # Two rooms (issue 15), the 18 pilot projects split between them.
        rooms = conn.execute(
            text(
                "SELECT s.id, s.name, count(p.id) FROM stage s JOIN pitch p ON p.stage_id = s.id"
                " GROUP BY s.id, s.name ORDER BY s.position"
            )
        ).all()
    assert [(name, n) for _, name, n in rooms] == [("Saal A", 9), ("Saal B", 9)]
    code = _codes(first_out)[0]
    for stage_id, name, _ in rooms:
        assert f"\n  {name}\n" in first_out
        assert f"/e/{code}?stage={stage_id}" in first_out
    assert first_out.count("/moderator/") == 2 and first_out.count("/projector/") == 2
    engine.dispose()


def _help(*command: str) -> str:
    """The parser's own help (in-process: the same argparse the command runs)."""
    import contextlib
    import io

    from eventapp.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([*command, "--help"])
    return out.getvalue()


def test_readme_command_line_section_lists_every_option() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    commands = re.search(r"\{([a-z,-]+)\}", _help()).group(1).split(",")
    assert "create" in commands and "purge" in commands
    missing = []
    for command in commands:
        if f"| `{command}" not in section:
            missing.append(command)
        for option in set(re.findall(r"(--[a-z][a-z-]+)", _help(command))) - {"--help"}:
            if f"`{option}" not in section:
                missing.append(f"{command} {option}")
    assert missing == []
