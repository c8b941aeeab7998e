"""The live protocol is defined once in code and every type is listed in the README."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from eventapp import messages
from eventapp.core.bus import MemoryBus
from eventapp.core.db import Database
from eventapp.errors import MESSAGES
from eventapp.live.hub import Hub
from eventapp.live.pump import HANDLERS
from eventapp.questions import messages as qmessages
from eventapp.settings import Settings
from eventapp.voting.tallies import MemoryTallies

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _readme_rows(heading: str) -> dict[str, set[str]]:
    """type -> the backticked words of its row's fields column."""
    section = README.split(f"### {heading}", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]*) \|", section, flags=re.MULTILINE)
    return {kind: set(re.findall(r"`([a-z_]+)", fields)) for kind, fields in rows}


def _readme_types(heading: str) -> set[str]:
    """The message types a README table lists (tests/test_questions.py uses it too)."""
    return set(_readme_rows(heading))


def _fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields) - {"type"}


def test_server_message_table_matches_the_models() -> None:
    rows = _readme_rows("Server → client")
    # The audience-questions area keeps its own types (tests/test_questions.py).
    assert set(rows) == set(messages.SERVER_MODELS) | set(qmessages.SERVER_TYPES)
    for kind, model in messages.SERVER_MODELS.items():
        assert _fields(model) <= rows[kind], kind


def test_client_message_table_matches_the_models() -> None:
    rows = _readme_rows("Client → server")
    assert set(rows) == set(messages.CLIENT_MODELS) | set(qmessages.CLIENT_TYPES)
    for kind, model in messages.CLIENT_MODELS.items():
        assert _fields(model) <= rows[kind], kind


def test_client_models_are_the_parsed_union_and_the_pump_handles_each() -> None:
    union = typing.get_args(typing.get_args(messages.ClientMessage)[0])
    assert set(union) == set(messages.CLIENT_MODELS.values())
    assert set(HANDLERS) == set(messages.CLIENT_MODELS) | set(qmessages.CLIENT_TYPES)


def test_every_error_code_is_in_the_readme() -> None:
    section = README.split("Error codes:", 1)[1].split("\n\n", 1)[0]
    assert set(MESSAGES) <= set(re.findall(r"`([a-z_]+)`", section))


def test_every_setting_is_documented() -> None:
    source = (Path(messages.__file__).parent / "settings.py").read_text()
    for variable in re.findall(r'config\(\s*"([A-Z_]+)"', source):
        assert f"`{variable}`" in README, variable


def test_the_hub_handles_every_bus_envelope() -> None:
    db = Database("sqlite://")
    hub = Hub(settings=Settings(), db=db, tallies=MemoryTallies(), bus=MemoryBus())
    kinds = {model.model_fields["type"].default for model in messages.BUS_MODELS}
    assert set(hub._bus_handlers) == kinds
    db.close()
