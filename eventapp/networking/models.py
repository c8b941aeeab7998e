"""Networking tables (issue 4) and their enums: profiles, contacts, blocks, notes,
pitch partnering, and the per-event secret that signs personal QR codes.

Kept apart from ``models.py`` so the organiser console can read them by name; every
table has a foreign key to ``attendee`` so "delete my data" finds it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from eventapp.core.models import utcnow
from eventapp.i18n import N_


class OrgType(StrEnum):
    SME = "sme"
    STARTUP = "startup"
    RESEARCH = "research"
    LARGE_COMPANY = "large_company"
    PUBLIC_ADMIN = "public_admin"
    NGO = "ngo"


ORG_TYPE_LABELS: dict[OrgType, str] = {
    OrgType.SME: N_("SME"),
    OrgType.STARTUP: N_("Start-up"),
    OrgType.RESEARCH: N_("Research institute"),
    OrgType.LARGE_COMPANY: N_("Large company"),
    OrgType.PUBLIC_ADMIN: N_("Public administration"),
    OrgType.NGO: N_("Association/NGO"),
}


class PartnerRole(StrEnum):
    PARTNER = "partner"
    PILOT_SITE = "pilot_site"
    FUNDER = "funder"
    TECHNOLOGY = "technology_provider"
    TESTER = "tester"


PARTNER_ROLE_LABELS: dict[PartnerRole, str] = {
    PartnerRole.PARTNER: N_("Partner"),
    PartnerRole.PILOT_SITE: N_("Pilot site"),
    PartnerRole.FUNDER: N_("Funder"),
    PartnerRole.TECHNOLOGY: N_("Technology provider"),
    PartnerRole.TESTER: N_("Tester/user"),
}


class LinkState(StrEnum):
    PENDING = "pending"  # requested, not yet answered
    ACCEPTED = "accepted"  # both sides consented: shared fields visible to each other
    DECLINED = "declined"  # never suggested again, no new request possible


class LinkVia(StrEnum):
    REQUEST = "request"
    QR = "qr"


CONTACT_FIELDS = ("email", "phone", "website", "linkedin")


class NetworkProfile(SQLModel, table=True):
    """One per attendee who opened networking. Name and organisation live on Attendee."""

    __tablename__ = "network_profile"

    attendee_id: int = Field(foreign_key="attendee.id", primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    opted_in: bool = False
    # Consent: when, and which version of the text the attendee agreed to.
    consented_at: datetime | None = None
    consent_version: str = Field(default="", max_length=20)
    org_type: str = Field(default="", max_length=20)
    role: str = Field(default="", max_length=80)
    # JSON lists of tags.
    interests: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    offers: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    seeks: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    offers_text: str = Field(default="", max_length=280)
    seeks_text: str = Field(default="", max_length=280)
    email: str = Field(default="", max_length=160)
    phone: str = Field(default="", max_length=40)
    website: str = Field(default="", max_length=200)
    linkedin: str = Field(default="", max_length=200)
    share_email: bool = False
    share_phone: bool = False
    share_website: bool = False
    share_linkedin: bool = False
    # Part of every QR token: rotating it invalidates all codes shown before.
    qr_nonce: str = Field(default="", max_length=32)
    # Hash of the browser's device cookie (per event) when the profile was last saved:
    # a block also holds for this device, so re-joining under a new name does not lift it.
    device_hash: str = Field(default="", max_length=64, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class NetworkState(SQLModel, table=True):
    """Per event: the secret that signs QR tokens (the same for every process and after
    restarts, unlike a per-process random key) and a version bumped by every networking write,
    so each process knows when its cached suggestions are stale."""

    __tablename__ = "network_state"

    event_id: int = Field(foreign_key="event.id", primary_key=True)
    secret: str = Field(max_length=64)
    version: int = 0


class ContactLink(SQLModel, table=True):
    """A contact between two attendees: a request, an accepted contact or a decline.
    One row per pair (low_id < high_id), whoever started it."""

    __tablename__ = "contact_link"
    __table_args__ = (UniqueConstraint("low_id", "high_id", name="uq_contact_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    low_id: int = Field(foreign_key="attendee.id", index=True)
    high_id: int = Field(foreign_key="attendee.id", index=True)
    requester_id: int = Field(foreign_key="attendee.id")
    state: str = Field(default=LinkState.PENDING, max_length=16)
    via: str = Field(default=LinkVia.REQUEST, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None


class ContactBlock(SQLModel, table=True):
    __tablename__ = "contact_block"
    __table_args__ = (UniqueConstraint("blocker_id", "blocked_id", name="uq_contact_block"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    blocker_id: int = Field(foreign_key="attendee.id", index=True)
    blocked_id: int = Field(foreign_key="attendee.id", index=True)
    # The blocked person's device hash at the time (NetworkProfile.device_hash).
    blocked_device: str = Field(default="", max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class ContactNote(SQLModel, table=True):
    """A private note one attendee keeps about a contact; only its owner sees it."""

    __tablename__ = "contact_note"
    __table_args__ = (UniqueConstraint("owner_id", "about_id", name="uq_contact_note"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="attendee.id", index=True)
    about_id: int = Field(foreign_key="attendee.id")
    text: str = Field(default="", max_length=1000)
    updated_at: datetime = Field(default_factory=utcnow)


class PartnerInterest(SQLModel, table=True):
    """ "I want to get involved" in a pitch, with a role: what the project exchange reports."""

    __tablename__ = "partner_interest"
    __table_args__ = (UniqueConstraint("attendee_id", "pitch_id", name="uq_partner_interest"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    pitch_id: int = Field(foreign_key="pitch.id", index=True)
    attendee_id: int = Field(foreign_key="attendee.id", index=True)
    role: str = Field(max_length=32)
    note: str = Field(default="", max_length=280)
    created_at: datetime = Field(default_factory=utcnow)
