"""Steps the browser tests share: reading a QR code off a page as a phone's camera would,
and filling in the networking profile."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect


def qr_texts(page: Page, element_id: str) -> list[str]:
    """The texts of the QR codes in the image ``#element_id``, decoded from a screenshot."""
    # The SVG arrives separately from the page: decode only a painted image.
    page.wait_for_function(f"document.getElementById('{element_id}').naturalWidth > 0")
    image = Image.open(io.BytesIO(page.locator(f"#{element_id}").screenshot()))
    return [str(result.text) for result in zxingcpp.read_barcodes(image)]


def fill_profile(
    page: Page, org: str, org_type: str, fields: dict[str, str], shared: list[str]
) -> None:
    """From the networking page: set up the profile (interest "Mobilität"), share
    ``shared`` fields, opt in, save."""
    page.click("a.button.primary")  # "Profil einrichten"
    page.fill("#organization", org)
    page.select_option("#org_type", org_type)
    page.check("input[name=interests][value='Mobilität']")
    for key, value in fields.items():
        page.fill(f"#{key}", value)
    for key in shared:
        page.check(f"#share_{key}")
    page.check("#opt_in")
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#done")).to_have_text("Profil gespeichert.")
