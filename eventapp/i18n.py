"""Languages: English source strings, one gettext catalogue (.po) per other language.

Code marks text with ``_()`` (or ``N_()`` where it is only stored and translated later),
templates with ``_()``, ``ngettext``, ``pgettext`` and ``{% trans %}``, the browser code
with ``EA.t`` / ``EA.nt`` / ``EA.pt``. ``eventapp/locale/<lang>/LC_MESSAGES/messages.po``
holds the translations; README "Languages" says how to extract, update and add one.

The .po files are compiled in memory the first time a language is used (cached for the
life of the process, like the files themselves), so a fresh clone needs no build step and
no compiled file is committed. A catalogue with a broken placeholder or plural is refused
when it is loaded -- ``create_app`` loads every configured language, so the app does not
start and the test run fails, instead of a page breaking later.

Numbers, dates and times go through Babel's locale formats (``Formats``).
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
# The language of the source strings: it needs no catalogue.
SOURCE_LANGUAGE = "en"
# Default of the LANGUAGES setting: the languages the server offers at all.
LANGUAGES = ("de", "en")
DEFAULT_TIMEZONE = "Europe/Berlin"
# gettext plural forms are numbered in CLDR's tag order (Babel's convention); the browser
# maps Intl.PluralRules' tag to the form with this list.
_PLURAL_TAGS = ("zero", "one", "two", "few", "many", "other")
_PERCENT = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]|%%")
_BRACE = re.compile(r"\{(\w*)[^{}]*\}")


class CatalogueError(ValueError):
    """A .po file that must not be used: the message lists every problem."""


def N_(text: str) -> str:
    """Mark text for extraction only; it is translated where it is shown."""
    return text


class Translatable(Protocol):
    """Something a page shows in its reader's language (errors with parameters)."""

    def render(self, gettext: Callable[[str], str]) -> str: ...


def placeholders(text: str) -> tuple[list[str], list[str]]:
    """The named %-placeholders and {}-placeholders of a text, sorted."""
    percent = sorted(m.group(1) for m in _PERCENT.finditer(text) if m.group(1))
    braces = sorted(m.group(1) for m in _BRACE.finditer(text))
    return percent, braces


def check_catalogue(catalog: Catalog) -> list[str]:
    """Babel's checkers (python-format, plural count) plus: every translation uses
    exactly the placeholders of its English text, in both styles."""
    problems = []
    for message, errors in catalog.check():
        for error in errors:
            problems.append(f"line {message.lineno}: {message.id!r}: {error}")
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue
        ids = [
            str(x) for x in (message.id if isinstance(message.id, tuple | list) else [message.id])
        ]
        raw = message.string
        strings = [str(x) for x in (raw if isinstance(raw, tuple | list) else [raw])]
        wanted = placeholders(ids[-1])
        for string in strings:
            if (
                string
                and placeholders(string) != wanted
                and placeholders(string) != (placeholders(ids[0]))
            ):
                problems.append(
                    f"line {message.lineno}: {ids[0]!r}: placeholders {placeholders(string)} "
                    f"in the translation, {wanted} in the English text"
                )
    return problems


@functools.cache
def load_catalogue(lang: str, locale_dir: Path = LOCALE_DIR) -> Catalog | None:
    """The checked catalogue of a language; None for the source language."""
    path = locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        if lang == SOURCE_LANGUAGE:
            return None
        raise CatalogueError(f"{path}: no catalogue for language {lang!r}")
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    problems = check_catalogue(catalog)
    if problems:
        raise CatalogueError(f"{path}:\n" + "\n".join(problems))
    return catalog


@functools.cache
def translations(lang: str, locale_dir: Path = LOCALE_DIR) -> gettext.NullTranslations:
    """gettext translations compiled in memory from the .po (fuzzy entries left out)."""
    catalog = load_catalogue(lang, locale_dir)
    if catalog is None:
        return gettext.NullTranslations()
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def check_languages(languages: tuple[str, ...], locale_dir: Path = LOCALE_DIR) -> None:
    """Load every configured language now (startup), so a bad .po stops the app."""
    for lang in languages:
        translations(lang, locale_dir)


def translator(lang: str) -> Callable[[str], str]:
    """gettext for one language (the shortest way for code that only needs ``_``).

    An empty text stays empty: gettext("") would be the catalogue's header."""
    lookup = translations(lang).gettext

    def gettext(text: str) -> str:
        return lookup(text) if text else ""

    return gettext


@dataclass(frozen=True)
class Formats:
    """What a person reads, in their language: text, numbers, dates and times.

    ``timezone`` is the event's (times are stored in UTC and shown local)."""

    lang: str
    timezone: str = DEFAULT_TIMEZONE
    locale_dir: Path = LOCALE_DIR

    @property
    def catalogue(self) -> gettext.NullTranslations:
        return translations(self.lang, self.locale_dir)

    def gettext(self, text: str | Translatable, /, **params: Any) -> str:
        if not isinstance(text, str):
            return text.render(self.catalogue.gettext)
        if not text:
            # gettext("") is the catalogue's header ("Project-Id-Version: ..."), never
            # what an empty value (an unset organisation type) should show.
            return ""
        out = self.catalogue.gettext(text)
        return out % params if params else out

    def ngettext(self, singular: str, plural: str, n: int, /, **params: Any) -> str:
        return self.catalogue.ngettext(singular, plural, n) % {"num": n, **params}

    def pgettext(self, context: str, text: str, /, **params: Any) -> str:
        out = self.catalogue.pgettext(context, text)
        return out % params if params else out

    def npgettext(self, context: str, singular: str, plural: str, n: int, /, **params: Any) -> str:
        return self.catalogue.npgettext(context, singular, plural, n) % {"num": n, **params}

    def number(self, value: float | int | None, digits: int = 2) -> str:
        """A decimal with a fixed number of digits ("4,00" in German); "–" for none."""
        if value is None:
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.lang)

    def integer(self, value: int) -> str:
        return format_decimal(value, format="#,##0", locale=self.lang)

    def percent(self, value: float) -> str:
        return format_percent(value, format="#,##0 %", locale=self.lang)

    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def datetime(self, value: dt.datetime, format: str = "short") -> str:
        return format_datetime(value, format=format, tzinfo=self.tz(), locale=self.lang)

    def time(self, value: dt.datetime, format: str = "HH:mm") -> str:
        return format_time(value, format=format, tzinfo=self.tz(), locale=self.lang)

    def date(self, value: dt.date | str, format: str = "medium") -> str:
        if isinstance(value, str):
            if not value:
                return ""
            value = dt.date.fromisoformat(value)
        return format_date(value, format=format, locale=self.lang)

    def timezone_name(self) -> str:
        """How the time zone is written under times ("MEZ" or "CET" in winter...)."""
        return format_datetime(
            dt.datetime.now(self.tz()), "zzzz", tzinfo=self.tz(), locale=self.lang
        )


def zone(name: str) -> ZoneInfo:
    """An IANA time zone; the default one when the name is unknown."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def js_catalog(lang: str, locale_dir: Path = LOCALE_DIR) -> dict[str, Any]:
    """The browser code's strings from the .po: entries used in static/js only.

    ``messages`` maps the English text (``context\\x04text`` with a context) to the
    translation, or to the list of plural forms; ``plural_tags`` orders the forms by
    CLDR tag so ``Intl.PluralRules`` picks the right one."""
    catalog = load_catalogue(lang, locale_dir)
    messages: dict[str, str | list[str]] = {}
    for message in catalog or ():
        if not message.id or message.fuzzy or not message.string:
            continue
        if not any(path.startswith("static/js/") for path, _ in message.locations):
            continue
        key = str(message.id[0] if isinstance(message.id, tuple | list) else message.id)
        if message.context:
            key = f"{message.context}\x04{key}"
        messages[key] = (
            list(message.string) if isinstance(message.string, tuple) else message.string
        )
    return {"lang": lang, "plural_tags": plural_tags(lang), "messages": messages}


@functools.cache
def js_catalog_json(lang: str, locale_dir: Path = LOCALE_DIR) -> str:
    """``js_catalog`` as the page's data attribute, made once per language."""
    return json.dumps(js_catalog(lang, locale_dir), ensure_ascii=False, separators=(",", ":"))


def plural_tags(lang: str) -> list[str]:
    rule = Locale.parse(lang).plural_form
    used = set(rule.tags) | {"other"}
    return [tag for tag in _PLURAL_TAGS if tag in used]


def negotiate(
    cookie: str | None,
    accept_language: str | None,
    default: str = "de",
    languages: tuple[str, ...] = LANGUAGES,
) -> str:
    if cookie in languages:
        return cookie
    best, best_q = None, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if base in languages and q > best_q:
            best, best_q = base, q
    return best or (default if default in languages else languages[0])
