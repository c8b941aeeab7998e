"""German and English. English text is the key; the German catalogue translates it.

The language comes from the ``lang`` cookie (set by the switch), else the browser's
Accept-Language, else the event's language.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("de", "en")

GERMAN: dict[str, str] = {
    "Live voting and networking for conferences.": "Live-Abstimmung und Networking für Konferenzen.",
    "Event code": "Veranstaltungscode",
    "Join": "Teilnehmen",
    "Join the event": "Zur Veranstaltung",
    "Your name": "Ihr Name",
    "Organisation (optional)": "Organisation (optional)",
    "No event with this code.": "Keine Veranstaltung mit diesem Code.",
    "Please enter the code shown on the screen.": "Bitte geben Sie den Code von der Leinwand ein.",
    "Please check your input.": "Bitte prüfen Sie Ihre Eingabe.",
    "name": "Name",
    "organization": "Organisation",
    "is required": "ist erforderlich",
    "must be text": "muss Text sein",
    "contains invisible control characters": "enthält unsichtbare Steuerzeichen",
    "is longer than 60 characters": "ist länger als 60 Zeichen",
    "is longer than 80 characters": "ist länger als 80 Zeichen",
    "On stage": "Auf der Bühne",
    "Waiting for the first pitch…": "Warten auf den ersten Pitch …",
    "How relevant is this project?": "Wie relevant ist dieses Projekt?",
    "Voting is closed.": "Die Abstimmung ist geschlossen.",
    "Voting opens soon.": "Die Abstimmung beginnt gleich.",
    "Saved ✓": "Gespeichert ✓",
    "Saving…": "Wird gespeichert …",
    "Offline – reconnecting…": "Offline – verbinde neu …",
    "Connected": "Verbunden",
    "You can change your rating while voting is open.": "Sie können Ihre Bewertung ändern, solange die Abstimmung offen ist.",
    "Your rating": "Ihre Bewertung",
    "Moderator": "Moderation",
    "Projector": "Leinwand",
    "Organiser": "Organisation",
    "Agenda": "Ablauf",
    "Open voting": "Abstimmung öffnen",
    "Close voting": "Abstimmung schließen",
    "Reveal results": "Ergebnis zeigen",
    "Next pitch": "Nächster Pitch",
    "Reset votes": "Stimmen zurücksetzen",
    "Really delete all votes for this pitch?": "Wirklich alle Stimmen zu diesem Pitch löschen?",
    "Yes, reset": "Ja, zurücksetzen",
    "Cancel": "Abbrechen",
    "connected": "verbunden",
    "votes in": "Stimmen",
    "Votes in": "Abgegebene Stimmen",
    "Leaderboard": "Rangliste",
    "votes": "Stimmen",
    "mean": "Mittel",
    "adjusted": "gewichtet",
    "Results are revealed after voting closes.": "Das Ergebnis wird nach der Abstimmung gezeigt.",
    "Scan to join": "Scannen und mitmachen",
    "or go to": "oder öffnen Sie",
    "and enter": "und geben Sie ein",
    "pending": "ausstehend",
    "open": "offen",
    "closed": "geschlossen",
    "revealed": "gezeigt",
    "Put on stage": "Auf die Bühne",
    "Links": "Links",
    "Attendees": "Teilnehmende",
    "Keep these links secret: they grant moderator and organiser rights.": "Halten Sie diese Links geheim: Sie gewähren Moderations- und Organisationsrechte.",
    "Page not found.": "Seite nicht gefunden.",
    "This link is not valid.": "Dieser Link ist nicht gültig.",
    "The form expired. Please try again.": "Das Formular ist abgelaufen. Bitte erneut versuchen.",
    "Language": "Sprache",
    "Adjusted mean: each pitch starts with a few virtual votes at the overall mean, so a handful of votes cannot top the table.": "Gewichteter Mittelwert: Jeder Pitch startet mit einigen virtuellen Stimmen zum Gesamtmittel, damit wenige Stimmen nicht die Tabelle anführen.",
    "No results yet.": "Noch keine Ergebnisse.",
    "Presenter": "Präsentiert von",
    "Results": "Ergebnis",
}

CATALOGS: dict[str, dict[str, str]] = {"de": GERMAN, "en": {}}

# Strings the browser code needs; handed to it as a data attribute of <body>.
JS_STRINGS = (
    "Saved ✓",
    "Saving…",
    "Offline – reconnecting…",
    "Connected",
    "Voting is closed.",
    "Voting opens soon.",
    "Waiting for the first pitch…",
    "How relevant is this project?",
    "Really delete all votes for this pitch?",
    "Yes, reset",
    "Cancel",
    "votes in",
    "connected",
    "No results yet.",
    "Results are revealed after voting closes.",
    "pending",
    "open",
    "closed",
    "revealed",
    "votes",
    "mean",
    "adjusted",
    "Presenter",
)


def translator(lang: str) -> Callable[[str], str]:
    catalog = CATALOGS.get(lang, {})

    def gettext(text: str) -> str:
        return catalog.get(text, text)

    return gettext


def js_catalog(lang: str) -> dict[str, str]:
    _ = translator(lang)
    return {key: _(key) for key in JS_STRINGS}


def negotiate(cookie: str | None, accept_language: str | None, default: str = "de") -> str:
    if cookie in LANGUAGES:
        return cookie
    best, best_q = None, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower()[:2]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if base in LANGUAGES and q > best_q:
            best, best_q = base, q
    return best or (default if default in LANGUAGES else "de")
