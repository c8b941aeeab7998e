"""The results report: leaderboard, a chart per pitch, turnout over time, networking.

Charts are reportlab Drawings, made once and written two ways: as SVG for the printable
web page (served by the app, nothing from other hosts) and straight into the PDF.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reportlab.graphics import renderSVG
from reportlab.graphics.shapes import Circle, Drawing, Line, Rect, String
from reportlab.lib import colors

from eventapp.admission import queries as admission
from eventapp.admission.queries import Provenance
from eventapp.core import queries as shared
from eventapp.exports.base import ExportContext
from eventapp.exports.networking import Network
from eventapp.exports.questions import PitchQuestions, questions_by_pitch
from eventapp.exports.voting import PitchResult, results_of
from eventapp.i18n import N_, Formats
from eventapp.networking.models import ORG_TYPE_LABELS, OrgType
from eventapp.voting import queries
from eventapp.voting.queries import SessionInfo

ACCENT = colors.HexColor("#0b5fff")
MUTED = colors.HexColor("#5b6270")
LINE = colors.HexColor("#d9dde3")
PALETTE = ["#0b5fff", "#11804a", "#a35a00", "#b3261e", "#6a3fb5", "#00838f", "#5b6270"]
RANKING_NOTE = N_(
    "Fair rank orders the pitches by adjusted mean: each pitch starts with a few virtual"
    " votes at the overall mean, so a handful of votes cannot top the table."
)
PDF_NOTE = N_(
    "This PDF is a print copy. The accessible, official version of this report is its"
    " web page (HTML)."
)
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def font_name() -> str:
    """DejaVu when the system has it (covers more than Latin-1), else a PDF base font."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if _DEJAVU.exists():
        if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("DejaVuSans", str(_DEJAVU)))
            pdfmetrics.registerFont(
                TTFont("DejaVuSans-Bold", str(_DEJAVU.with_name("DejaVuSans-Bold.ttf")))
            )
        return "DejaVuSans"
    return "Helvetica"


def _leaderboard(results: Sequence[PitchResult]) -> list[PitchResult]:
    return sorted((r for r in results if r.shown_rank is not None), key=lambda r: r.shown_rank or 0)


def _unranked(results: Sequence[PitchResult]) -> list[tuple[PitchResult, str]]:
    return [
        (r, N_("No votes") if r.summary.n == 0 else N_("Not revealed"))
        for r in results
        if r.shown_rank is None
    ]


@dataclass(frozen=True)
class SessionGroup:
    """A stage's pitches of one session, in agenda order; ``session`` None: the pitches
    in no session (listed last, under no heading)."""

    session: SessionInfo | None
    results: list[PitchResult]

    @property
    def charted(self) -> list[PitchResult]:
        return [r for r in self.results if r.shown_rank is not None]

    @property
    def unranked(self) -> list[tuple[PitchResult, str]]:
        return _unranked(self.results)


def session_time(session: SessionInfo | None, fmt: Formats, event_date: str = "") -> str:
    """When a session starts, in the event's zone: the time alone on the event's day
    ("10:30"), else date and time; "" without a start time."""
    if session is None or session.starts_at is None:
        return ""
    moment = _aware(session.starts_at)
    local = moment.astimezone(fmt.tz())
    if event_date and local.date().isoformat() == event_date:
        return fmt.time(moment)
    return fmt.datetime(moment)


@dataclass(frozen=True)
class StageSection:
    """One stage's part of the report (issue 15): its leaderboard, ranked as its
    projector ranked it, and its pitches' charts."""

    stage_id: int
    name: str
    results: list[PitchResult]

    @property
    def leaderboard(self) -> list[PitchResult]:
        return _leaderboard(self.results)

    @property
    def unranked(self) -> list[tuple[PitchResult, str]]:
        return _unranked(self.results)

    @property
    def charted(self) -> list[PitchResult]:
        return [r for r in self.results if r.shown_rank is not None]

    @property
    def groups(self) -> list[SessionGroup]:
        """The stage's pitches by session (the sessions' order, pitches in agenda order
        within each), the pitches in no session last. Sessions without pitches are left
        out; a stage without sessions is one group without a heading."""
        by_session: dict[int, list[PitchResult]] = {}
        sessions: dict[int, SessionInfo] = {}
        loose: list[PitchResult] = []
        for r in self.results:
            if r.session is None:
                loose.append(r)
            else:
                by_session.setdefault(r.session.id, []).append(r)
                sessions[r.session.id] = r.session
        groups = [
            SessionGroup(sessions[sid], by_session[sid])
            for sid in sorted(sessions, key=lambda sid: sessions[sid].order)
        ]
        if loose or not groups:
            groups.append(SessionGroup(None, loose))
        return groups


@dataclass(frozen=True)
class Report:
    name: str
    date: str
    code: str
    scale: tuple[int, int]
    labels: tuple[str, ...]
    results: list[PitchResult]
    attendees: int
    votes: int
    turnout: list[tuple[datetime, int]]  # (bucket start, votes last changed in it)
    network: Network
    # Audience questions per pitch (issue 16), in agenda order.
    questions: tuple[PitchQuestions, ...] = ()
    # How the result was obtained (issue 12): admission mode, turnout, removals.
    provenance: Provenance | None = None

    @property
    def sections(self) -> list[StageSection]:
        """Stage by stage, in the stages' order (a one-stage event: one section)."""
        by_stage: dict[int, list[PitchResult]] = {}
        names: dict[int, str] = {}
        for r in self.results:
            by_stage.setdefault(r.stage_id, []).append(r)
            names[r.stage_id] = r.stage
        return [StageSection(sid, names[sid], rs) for sid, rs in by_stage.items()]

    @property
    def several_stages(self) -> bool:
        return len(self.sections) > 1

    @property
    def leaderboard(self) -> list[PitchResult]:
        """The fair rank, the projector's table: revealed pitches by adjusted mean. One
        ranking everywhere (stage, report, PDF, exports), so published results match what
        the hall saw. With several stages: each stage's table, stage by stage."""
        return [r for section in self.sections for r in section.leaderboard]

    @property
    def unranked(self) -> list[tuple[PitchResult, str]]:
        """Pitches outside the fair rank, each with why: listed, never drawn as an empty
        chart and never placed in the table by votes the hall has not seen."""
        return [item for section in self.sections for item in section.unranked]

    @property
    def charted(self) -> list[PitchResult]:
        return [r for section in self.sections for r in section.charted]


def build_report(ctx: ExportContext, network: Network | None = None) -> Report:
    state, results = results_of(ctx)
    raw = ctx.db.read(queries.raw_votes, ctx.event_id)
    attendees = ctx.db.read(shared.attendees_of_event, ctx.event_id)
    return Report(
        name=ctx.event.name,
        date=ctx.event.date,
        code=ctx.event.code,
        scale=(state.scale_min, state.scale_max),
        labels=state.scale_labels,
        results=results,
        attendees=len(attendees),
        votes=len(raw),
        turnout=turnout_buckets([v.updated_at for v in raw]),
        network=network or Network(note=N_("Networking data is not available.")),
        questions=tuple(questions_by_pitch(ctx)),
        provenance=ctx.db.read(admission.provenance, ctx.event_id),
    )


MODE_NAMES = {
    "open": N_("open admission"),
    "hall": N_("hall code"),
    "invite": N_("invite list"),
}


def provenance_line(p: Provenance, gettext: Callable[[str], str] = str) -> str:
    """ "Admission: hall code · Attendees: 120 / 150 expected (80 %) · Removed by the
    organiser: 40 attendees, 80 votes", in the reader's language."""
    _ = gettext
    parts = [f"{_('Admission')}: {_(MODE_NAMES.get(p.mode, p.mode))}"]
    attendees = f"{_('Attendees')}: {p.attendees}"
    if p.expected:
        attendees += f" / {p.expected} {_('expected')} ({p.turnout} %)"
    parts.append(attendees)
    if p.removals:
        parts.append(
            f"{_('Removed by the organiser')}: {p.removed_attendees} {_('attendees')}, "
            f"{p.removed_votes} {_('votes')}"
        )
    return " · ".join(parts)


def turnout_buckets(
    times: Sequence[datetime], *, max_buckets: int = 48
) -> list[tuple[datetime, int]]:
    """Votes per time slot, slots of 1, 5, 15, 30 or 60 minutes so at most ~48 bars.
    Vote.updated_at is the last change of a vote, so a changed rating counts late."""
    if not times:
        return []
    first, last = min(times), max(times)
    span = (last - first).total_seconds() / 60
    minutes = next((m for m in (1, 5, 15, 30, 60, 240) if span / m < max_buckets), 1440)
    slot = minutes * 60
    # Slots start on whole multiples of their length (10:00, 10:05, ...), in the votes' zone.
    start = first - timedelta(seconds=first.timestamp() % slot)
    counts: Counter[int] = Counter(int((t - start).total_seconds() // slot) for t in times)
    return [(start + timedelta(seconds=i * slot), counts.get(i, 0)) for i in range(max(counts) + 1)]


# ------------------------------------------------------------------ charts


def distribution_chart(
    result: PitchResult, labels: Sequence[str], *, width: float = 420, font: str = "Helvetica"
) -> Drawing:
    dist = result.summary.distribution
    row, top = 18.0, 8.0
    height = top + row * len(dist) + 4
    d = Drawing(width, height)
    peak = max(dist.values(), default=0) or 1
    label_w, count_w = 150.0, 40.0
    bar_w = width - label_w - count_w
    for i, (score, n) in enumerate(sorted(dist.items(), reverse=True)):
        y = 4 + i * row
        index = score - min(dist)
        label = f"{score}" + (f" {labels[index]}" if index < len(labels) and labels[index] else "")
        d.add(String(0, y + 4, label[:28], fontName=font, fontSize=9, fillColor=MUTED))
        d.add(
            Rect(label_w, y, bar_w, row - 5, fillColor=colors.HexColor("#e6e9ee"), strokeColor=None)
        )
        if n:
            d.add(Rect(label_w, y, bar_w * n / peak, row - 5, fillColor=ACCENT, strokeColor=None))
        d.add(String(width - 2, y + 4, str(n), fontName=font, fontSize=9, textAnchor="end"))
    return d


def turnout_chart(
    turnout: Sequence[tuple[datetime, int]],
    *,
    width: float = 480,
    height: float = 150,
    font: str = "Helvetica",
    fmt: Formats | None = None,
) -> Drawing:
    """Votes per time slot; times in the event's zone (stored times are UTC)."""
    fmt = fmt or Formats("en")
    d = Drawing(width, height)
    d.add(Line(30, 20, width, 20, strokeColor=LINE))
    if not turnout:
        d.add(String(width / 2, height / 2, "–", fontName=font, fontSize=12, textAnchor="middle"))
        return d
    peak = max(n for _, n in turnout) or 1
    slot = min((width - 30) / len(turnout), 40.0)  # one slot must not fill the chart
    for i, (moment, n) in enumerate(turnout):
        h = (height - 40) * n / peak
        d.add(Rect(30 + i * slot + 1, 20, max(slot - 2, 1), h, fillColor=ACCENT, strokeColor=None))
        if i == 0 or i == len(turnout) - 1 or (len(turnout) > 6 and i % (len(turnout) // 4) == 0):
            d.add(
                String(
                    30 + i * slot,
                    6,
                    fmt.time(_aware(moment)),
                    fontName=font,
                    fontSize=8,
                    fillColor=MUTED,
                )
            )
    d.add(String(0, height - 14, str(peak), fontName=font, fontSize=8, fillColor=MUTED))
    return d


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def org_type_label(value: str, fmt: Formats) -> str:
    """An organisation type code as the reader's word ("KMU"); "–" for none."""
    try:
        return fmt.gettext(ORG_TYPE_LABELS[OrgType(value)])
    except ValueError:
        return value or "–"


def network_chart(
    network: Network, *, size: float = 320, font: str = "Helvetica", fmt: Formats | None = None
) -> Drawing:
    """Attendees on a circle, grouped and coloured by organisation type; lines are
    contact exchanges. No names: the picture goes into a brochure."""
    if not network.nodes:
        empty = Drawing(size, 20)
        empty.add(String(0, 4, "–", fontName=font, fontSize=12))
        return empty
    d = Drawing(size, size + 20)
    types = sorted({t or "–" for t in network.nodes.values()})
    colour = {t: colors.HexColor(PALETTE[i % len(PALETTE)]) for i, t in enumerate(types)}
    ordered = sorted(network.nodes, key=lambda a: (network.nodes[a] or "–", a))
    centre, radius = size / 2, size / 2 - 14
    where = {}
    for i, attendee in enumerate(ordered):
        angle = 2 * math.pi * i / len(ordered)
        where[attendee] = (
            centre + radius * math.cos(angle),
            20 + centre + radius * math.sin(angle),
        )
    for a, b in network.edges:
        if a in where and b in where:
            d.add(
                Line(*where[a], *where[b], strokeColor=colors.HexColor("#9aa4b2"), strokeWidth=0.6)
            )
    for attendee, (x, y) in where.items():
        d.add(
            Circle(
                x,
                y,
                4,
                fillColor=colour[network.nodes[attendee] or "–"],
                strokeColor=colors.white,
                strokeWidth=0.5,
            )
        )
    for i, t in enumerate(types[:6]):
        d.add(Rect(i * size / 6, 2, 8, 8, fillColor=colour[t], strokeColor=None))
        label = org_type_label(t, fmt or Formats("en"))
        d.add(String(i * size / 6 + 11, 3, label[:14], fontName=font, fontSize=7))
    return d


def svg(drawing: Drawing) -> bytes:
    text: str = renderSVG.drawToString(drawing)
    return text.encode("utf-8")


# ------------------------------------------------------------------ PDF


def pdf(report: Report, fmt: Formats | None = None) -> bytes:
    """The report as a PDF in the reader's language, numbers and time zone.

    The PDF is a print copy: reportlab (the open-source toolkit, 5.x) writes the
    document language and title but no structure tree, so the PDF is not tagged. The
    HTML report is the accessible, official version; the PDF says so on its first page."""
    fmt = fmt or Formats("en")
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    _ = fmt.gettext

    font = font_name()
    bold = font + "-Bold" if font == "DejaVuSans" else "Helvetica-Bold"
    base = getSampleStyleSheet()
    h1 = ParagraphStyle("h1", parent=base["Title"], fontName=bold)
    h2 = ParagraphStyle("h2", parent=base["Heading2"], fontName=bold)
    h3 = ParagraphStyle("h3", parent=base["Heading3"], fontName=bold)
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=font)

    def esc(s: object) -> str:
        return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    story: list[object] = [
        Paragraph(esc(report.name), h1),
        Paragraph(
            esc(
                " · ".join(
                    x
                    for x in (
                        _("Results"),
                        fmt.date(report.date),
                        f"{_('Attendees')}: {fmt.integer(report.attendees)}",
                        f"{_('Votes')}: {fmt.integer(report.votes)}",
                    )
                    if x
                )
            ),
            body,
        ),
        *(
            [Paragraph(esc(provenance_line(report.provenance, _)), body)]
            if report.provenance is not None
            else []
        ),
        Paragraph(esc(_(PDF_NOTE)), body),
        Spacer(1, 0.4 * cm),
        Paragraph(_("Leaderboard"), h2),
    ]
    for section in report.sections:
        if report.several_stages:
            story.append(Paragraph(esc(section.name), h3))
        rows: list[list[object]] = [
            [_("Fair rank"), _("Pitch"), "n", _("mean"), _("adjusted mean")]
        ]
        rows += [
            [
                str(r.shown_rank),
                Paragraph(esc(r.title), body),
                str(r.summary.n),
                fmt.number(r.summary.mean),
                fmt.number(r.shown_adjusted),
            ]
            for r in section.leaderboard
        ]
        rows += [
            [_(reason), Paragraph(esc(r.title), body), "0" if r.summary.n == 0 else "", "–", "–"]
            for r, reason in section.unranked
        ]
        table = Table(
            rows, colWidths=[2.6 * cm, 8.8 * cm, 1.2 * cm, 1.6 * cm, 2.4 * cm], repeatRows=1
        )
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), font),
                    ("FONTNAME", (0, 0), (-1, 0), bold),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.3, LINE),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        story.append(table)
    story += [
        Paragraph(esc(_(RANKING_NOTE)), body),
        Spacer(1, 0.5 * cm),
        Paragraph(esc(_("Turnout over time (%(zone)s)", zone=fmt.timezone_name())), h2),
        turnout_chart(report.turnout, font=font, fmt=fmt),
        Paragraph(_("Votes per pitch"), h2),
    ]
    h4 = ParagraphStyle("h4", parent=base["Heading4"], fontName=bold)
    for section in report.sections:
        if report.several_stages:
            story.append(Paragraph(esc(section.name), h3))
        for group in section.groups:
            if group.session is not None and group.charted:
                when = session_time(group.session, fmt, report.date)
                heading = esc(group.session.title) + (
                    f" <font color='#5b6270'>· {esc(when)}</font>" if when else ""
                )
                story.append(Paragraph(heading, h4 if report.several_stages else h3))
            for r in group.charted:
                story.append(
                    KeepTogether(
                        [
                            Paragraph(
                                esc(f"{r.position}. {r.title}") + f" <font color='#5b6270'>(n = "
                                f"{r.summary.n})</font>",
                                body,
                            ),
                            distribution_chart(r, report.labels, font=font),
                            Spacer(1, 0.3 * cm),
                        ]
                    )
                )
    net = report.network
    story += [
        Paragraph(_("Networking"), h2),
        Paragraph(esc(f"{_('Connections made')}: {len(net.edges)}"), body),
    ]
    if net.note:
        story.append(Paragraph(esc(_(net.note)), body))
    for org_type, n in net.by_type.items():
        story.append(Paragraph(esc(f"{org_type_label(org_type, fmt)}: {fmt.integer(n)}"), body))
    story.append(network_chart(net, font=font, fmt=fmt))
    story.append(Paragraph(_("Questions"), h2))
    for pq in report.questions:
        stage = f"{pq.stage} · " if report.several_stages else ""
        line = (
            f"{stage}{pq.position}. {pq.title} – {_('asked')}: {fmt.integer(pq.asked)}, "
            f"{_('answered')}: {fmt.integer(pq.answered)}, {_('hidden')}: "
            f"{fmt.integer(pq.hidden)}, {_('upvotes')}: {fmt.integer(pq.upvotes)}"
        )
        story.append(Paragraph(esc(line), body))
        for q in pq.top:
            who = q.name or _("Anonymous")
            story.append(Paragraph(esc(f"▲ {fmt.integer(q.upvotes)} · {q.text} ({who})"), body))
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=report.name,
        author="eventapp",
        lang=fmt.lang,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
    )
    doc.build(story)
    return out.getvalue()
