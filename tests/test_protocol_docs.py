"""The live protocol is defined once in code and every type is listed in the README."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from eventapp import messages

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _readme_types(heading: str) -> set[str]:
    section = README.split(f"### {heading}", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))


def test_every_server_message_type_is_in_the_readme() -> None:
    assert set(messages.SERVER_TYPES) <= _readme_types("Server → client")


def test_every_client_message_type_is_in_the_readme() -> None:
    assert set(messages.CLIENT_TYPES) <= _readme_types("Client → server")


def test_client_types_match_the_parsed_message_classes() -> None:
    union = typing.get_args(typing.get_args(messages.ClientMessage)[0])
    literal_types = {typing.get_args(cls.model_fields["type"].annotation)[0] for cls in union}
    assert literal_types == set(messages.CLIENT_TYPES)


def test_every_setting_is_documented() -> None:
    source = (Path(messages.__file__).parent / "settings.py").read_text()
    for variable in re.findall(r'config\(\s*"([A-Z_]+)"', source):
        assert f"`{variable}`" in README, variable
