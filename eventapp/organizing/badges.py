"""Printable name badges: name, organisation and the personal join QR code of every
invitee, as a PDF in two sizes.

``a6``: one badge per A6 page (105 × 148 mm), for badge holders.
``labels``: 80 × 50 mm name-badge labels, 2 × 5 on an A4 sheet (10 per sheet).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from eventapp.organizing.report import font_name

SIZES = ("a6", "labels")


@dataclass(frozen=True)
class Badge:
    name: str
    organization: str
    link: str


def _fit(canvas: object, text: str, font: str, size: float, width: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    while size > 6 and stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _draw(canvas: object, badge: Badge, x: float, y: float, w: float, h: float, event: str) -> None:
    """One badge with its lower-left corner at (x, y)."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.units import mm

    c = canvas
    font = font_name()
    bold = "DejaVuSans-Bold" if font == "DejaVuSans" else "Helvetica-Bold"
    pad = 4 * mm
    portrait = h > w
    qr_size = min(w - 2 * pad, h * 0.5) if portrait else min(h - 2 * pad, w * 0.45)
    widget = QrCodeWidget(badge.link, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(
        qr_size, qr_size, transform=[qr_size / (x1 - x0), 0, 0, qr_size / (y1 - y0), 0, 0]
    )
    drawing.add(widget)
    if portrait:
        text_w = w - 2 * pad
        renderPDF.draw(drawing, c, x + (w - qr_size) / 2, y + pad)
        top = y + h - pad
        c.setFont(font, 9)  # type: ignore[attr-defined]
        c.drawCentredString(x + w / 2, top - 9, event[:60])  # type: ignore[attr-defined]
        size = _fit(c, badge.name, bold, 24, text_w)
        c.setFont(bold, size)  # type: ignore[attr-defined]
        c.drawCentredString(x + w / 2, top - 20 - size, badge.name)  # type: ignore[attr-defined]
        org_size = _fit(c, badge.organization, font, 14, text_w)
        c.setFont(font, org_size)  # type: ignore[attr-defined]
        c.drawCentredString(x + w / 2, top - 28 - size - org_size, badge.organization)  # type: ignore[attr-defined]
    else:
        text_w = w - qr_size - 3 * pad
        renderPDF.draw(drawing, c, x + w - pad - qr_size, y + (h - qr_size) / 2)
        left, top = x + pad, y + h - pad
        c.setFont(font, 7)  # type: ignore[attr-defined]
        c.drawString(left, top - 7, event[:40])  # type: ignore[attr-defined]
        size = _fit(c, badge.name, bold, 16, text_w)
        c.setFont(bold, size)  # type: ignore[attr-defined]
        c.drawString(left, top - 14 - size, badge.name)  # type: ignore[attr-defined]
        org_size = _fit(c, badge.organization, font, 10, text_w)
        c.setFont(font, org_size)  # type: ignore[attr-defined]
        c.drawString(left, top - 20 - size - org_size, badge.organization)  # type: ignore[attr-defined]


def badges_pdf(badges: Sequence[Badge], *, size: str, event: str) -> bytes:
    from reportlab.lib.pagesizes import A4, A6
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    if size not in SIZES:
        raise ValueError(size)
    out = io.BytesIO()
    if size == "a6":
        c = Canvas(out, pagesize=A6)
        for badge in badges:
            _draw(c, badge, 0, 0, A6[0], A6[1], event)
            c.showPage()
    else:
        c = Canvas(out, pagesize=A4)
        w, h, cols, rows = 80 * mm, 50 * mm, 2, 5
        left, bottom = (A4[0] - cols * w) / 2, (A4[1] - rows * h) / 2
        for i, badge in enumerate(badges):
            slot = i % (cols * rows)
            if i and slot == 0:
                c.showPage()
            col, row = slot % cols, slot // cols
            x, y = left + col * w, bottom + (rows - 1 - row) * h
            c.setStrokeGray(0.85)
            c.rect(x, y, w, h)  # a faint cut line
            _draw(c, badge, x, y, w, h, event)
        c.showPage()
    if not badges:
        c.showPage()
    c.save()
    return out.getvalue()
