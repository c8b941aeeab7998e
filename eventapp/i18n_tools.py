"""Translator's commands: extract, update, check, merge a dict of German strings.

    python -m eventapp.i18n_tools extract        # every _(), N_(), ngettext, pgettext,
                                                 # {% trans %} and JS EA.t() -> messages.pot
    python -m eventapp.i18n_tools update         # extract, then merge into every .po
    python -m eventapp.i18n_tools check          # placeholders, plurals, missing, fuzzy
    python -m eventapp.i18n_tools merge-dict FILE [--lang de]
        # take {"English": "German"} entries from a Python file's GERMAN dict (how other
        # branches added strings before the catalogues existed) into the .po, then update
    python -m eventapp.i18n_tools add-language CODE   # a new, empty .po for CODE

Extraction reads ``babel.cfg`` at the repository root (Python, Jinja2 templates,
static JS). Nothing compiled is written: the app compiles the .po files in memory when it
starts (see eventapp.i18n), so a fresh clone needs no build step.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from eventapp.i18n import DOMAIN, LOCALE_DIR, SOURCE_LANGUAGE, check_catalogue

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "babel.cfg"
# Keywords beyond Babel's defaults (_, gettext, ngettext, pgettext, npgettext, N_):
# the browser code's EA.t / EA.nt / EA.pt, and rule errors that carry English text to be
# translated where it is shown (InvalidInput's message, ProtocolError's and
# CommandRefused's message, ImportFileError's text).
KEYWORDS: dict[str, object] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "N_": None,
    "t": None,
    "nt": (1, 2),
    "pt": ((1, "c"), 2),
    "InvalidInput": (2,),
    "ProtocolError": (2,),
    "CommandRefused": (2,),
    "ImportFileError": (1,),
    "problem": (3,),
    "Reason": (2,),
    "Refused": (2,),
}
COMMENT_TAGS = ("Translators:",)


def po_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def languages_on_disk(locale_dir: Path = LOCALE_DIR) -> list[str]:
    return sorted(p.parent.parent.name for p in locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def extract(root: Path = ROOT) -> Catalog:
    """Every translatable string of the Python code, the templates and the browser code."""
    with MAPPING.open() as f:
        method_map, options_map = parse_mapping_cfg(f)  # type: ignore[no-untyped-call]
    template = Catalog(project="eventapp", charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root),
        method_map,
        options_map,
        keywords=KEYWORDS,  # type: ignore[arg-type]
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    ):
        if filename.startswith((".venv", "tests", "loadtests")):
            continue
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def read_catalogue(lang: str, locale_dir: Path = LOCALE_DIR) -> Catalog:
    with po_path(lang, locale_dir).open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def write_catalogue(catalog: Catalog, lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    path = po_path(lang, locale_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=100, sort_output=False, ignore_obsolete=True)
    return path


def update(lang: str, template: Catalog, locale_dir: Path = LOCALE_DIR) -> Catalog:
    """msgmerge: new strings appear untranslated, changed ones fuzzy, gone ones dropped."""
    catalog = read_catalogue(lang, locale_dir)
    catalog.update(template, no_fuzzy_matching=False)
    write_catalogue(catalog, lang, locale_dir)
    return catalog


def untranslated(catalog: Catalog, template: Catalog) -> list[str]:
    """Strings of ``template`` that ``catalog`` lacks, leaves empty or marks fuzzy."""
    problems = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, context=message.context)
        where = ", ".join(f"{f}:{n}" for f, n in message.locations[:2])
        if found is None:
            problems.append(f"missing: {message.id!r} ({where})")
        elif found.fuzzy:
            problems.append(f"fuzzy: {message.id!r} ({where})")
        elif not found.string or (isinstance(found.string, tuple) and not all(found.string)):
            problems.append(f"untranslated: {message.id!r} ({where})")
    return problems


def dict_entries(source: str, name: str = "GERMAN") -> dict[str, str]:
    """The literal entries of ``NAME = {...}`` in a Python file (never executed)."""
    for node in ast.walk(ast.parse(source)):
        target = None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        if target == name and isinstance(value, ast.Dict):
            return {
                k.value: v.value
                for k, v in zip(value.keys, value.values, strict=True)
                if isinstance(k, ast.Constant)
                and isinstance(k.value, str)
                and isinstance(v, ast.Constant)
                and isinstance(v.value, str)
            }
    raise ValueError(f"no {name} = {{...}} dict in this file")


def merge_dict(
    entries: dict[str, str], lang: str, locale_dir: Path = LOCALE_DIR, *, overwrite: bool = False
) -> list[str]:
    """Put translations into the .po; returns the English strings added or changed.

    An entry whose English text is not (yet) in the catalogue is added as-is; run
    ``update`` afterwards to drop those no code uses."""
    catalog = read_catalogue(lang, locale_dir)
    changed = []
    for english, translated in entries.items():
        message = catalog.get(english)
        if message is None:
            catalog.add(english, translated)
            changed.append(english)
        elif overwrite or not message.string or message.fuzzy:
            message.string = translated
            message.flags.discard("fuzzy")
            changed.append(english)
    write_catalogue(catalog, lang, locale_dir)
    return changed


def new_language(lang: str, template: Catalog, locale_dir: Path = LOCALE_DIR) -> Path:
    catalog = Catalog(locale=lang, domain=DOMAIN, project="eventapp", fuzzy=False)
    catalog.revision_date = datetime.now(UTC)
    catalog.update(template)
    return write_catalogue(catalog, lang, locale_dir)


def _report(problems: Iterable[str]) -> int:
    problems = list(problems)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventapp.i18n_tools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("extract", help="write messages.pot beside the .po files")
    sub.add_parser("update", help="extract and merge into every .po")
    sub.add_parser("check", help="fail on broken placeholders, missing or fuzzy strings")
    merge = sub.add_parser("merge-dict", help="merge a Python file's GERMAN dict into a .po")
    merge.add_argument("file", type=Path)
    merge.add_argument("--lang", default="de")
    merge.add_argument("--name", default="GERMAN")
    merge.add_argument("--overwrite", action="store_true")
    add = sub.add_parser("add-language", help="start the .po of a new language")
    add.add_argument("lang")
    args = parser.parse_args(argv)

    template = extract()
    if args.command == "extract":
        path = LOCALE_DIR / f"{DOMAIN}.pot"
        with path.open("wb") as f:
            write_po(f, template, width=100)
        print(f"wrote {path} ({len(template)} strings)")
        return 0
    if args.command == "add-language":
        print(f"wrote {new_language(args.lang, template)}")
        print(f"now add {args.lang!r} to the LANGUAGES setting and translate the file")
        return 0
    if args.command == "merge-dict":
        entries = dict_entries(args.file.read_text(encoding="utf-8"), args.name)
        changed = merge_dict(entries, args.lang, overwrite=args.overwrite)
        print(f"{len(changed)} translations merged into {po_path(args.lang)}")
    if args.command in ("update", "merge-dict"):
        for lang in languages_on_disk():
            update(lang, template)
            print(f"updated {po_path(lang)}")
        return 0
    problems: list[str] = []
    for lang in languages_on_disk():
        if lang == SOURCE_LANGUAGE:
            continue
        catalog = read_catalogue(lang)
        problems += [f"{lang}: {p}" for p in check_catalogue(catalog)]
        problems += [f"{lang}: {p}" for p in untranslated(catalog, template)]
    return _report(problems)


if __name__ == "__main__":
    raise SystemExit(main())
