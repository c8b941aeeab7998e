"""Reasons in words for one suggestion: what two attendees' features have in common,
strongest first. Worked out only for the list someone looks at, from the same matrices
the scores came from (see eventapp.networking.matching)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from eventapp.i18n import N_
from eventapp.networking.matching import (
    ORG_TYPES,
    VOTE_CAP,
    W_COMPLEMENT,
    W_INTEREST,
    W_ORG,
    W_PITCH,
    W_PRESENTER,
    W_VOTE,
    Features,
)
from eventapp.networking.models import ORG_TYPE_LABELS


@dataclass(frozen=True)
class Reason:
    """One reason in words. ``template`` is the English catalogue key with named
    placeholders (``%(name)s``); ``params`` fill it."""

    kind: str
    template: str
    params: dict[str, str]
    weight: float

    def text(self, gettext: Callable[[str], str]) -> str:
        params = {k: (gettext(v) if k.startswith("label") else v) for k, v in self.params.items()}
        return gettext(self.template) % params

    def render(self, gettext: Callable[[str], str]) -> str:
        """Pages show a reason with ``{{ _(reason) }}``."""
        return self.text(gettext)

    def about(self, gettext: Callable[[str], str], me: str) -> str:
        """The reason told about both people (the organiser's export), not to ``me``."""
        params = {k: (gettext(v) if k.startswith("label") else v) for k, v in self.params.items()}
        return gettext(ABOUT.get(self.template, self.template)) % {**params, "me": me}


# The same reasons in the third person, for the organiser: "Anna seeks …, Ben offers it".
ABOUT = {
    "You seek %(tag)s, %(name)s offers it": N_("%(me)s seeks %(tag)s, %(name)s offers it"),
    "%(name)s seeks %(tag)s, you offer it": N_("%(name)s seeks %(tag)s, %(me)s offers it"),
    "%(name)s wants to get involved in your pitch '%(pitch)s'": N_(
        "%(name)s wants to get involved in %(me)s's pitch '%(pitch)s'"
    ),
    "%(name)s presents '%(pitch)s', which you want to join": N_(
        "%(name)s presents '%(pitch)s', which %(me)s wants to join"
    ),
    "You both want to get involved in '%(pitch)s'": N_("Both want to get involved in '%(pitch)s'"),
    "You both rated '%(pitch)s' %(score)s/%(max)s": N_("Both rated '%(pitch)s' %(score)s/%(max)s"),
    "You both rated '%(pitch)s' highly (%(score)s/%(max)s and %(theirs)s/%(max)s)": N_(
        "Both rated '%(pitch)s' highly (%(score)s/%(max)s and %(theirs)s/%(max)s)"
    ),
    "You share an interest in %(topics)s": N_("Both are interested in %(topics)s"),
}


def explain(f: Features, me: int, other: int, *, limit: int = 4) -> list[Reason]:
    """Why ``other`` is suggested to ``me`` (attendee ids), strongest reason first."""
    i, j = f.index[me], f.index[other]
    name = f.names[j]
    reasons: list[Reason] = []
    for col in _both(f.seeks, f.offers, i, j):
        reasons.append(
            Reason(
                "complement",
                "You seek %(tag)s, %(name)s offers it",
                {"tag": f.tags[col], "name": name},
                W_COMPLEMENT * float(f.tag_idf[col]),
            )
        )
    for col in _both(f.offers, f.seeks, i, j):
        reasons.append(
            Reason(
                "complement",
                "%(name)s seeks %(tag)s, you offer it",
                {"tag": f.tags[col], "name": name},
                W_COMPLEMENT * float(f.tag_idf[col]),
            )
        )
    for col in _both(f.presents, f.partner, i, j):
        reasons.append(
            Reason(
                "presenter",
                "%(name)s wants to get involved in your pitch '%(pitch)s'",
                {"pitch": f.titles[col], "name": name},
                W_PRESENTER,
            )
        )
    for col in _both(f.partner, f.presents, i, j):
        reasons.append(
            Reason(
                "presenter",
                "%(name)s presents '%(pitch)s', which you want to join",
                {"pitch": f.titles[col], "name": name},
                W_PRESENTER,
            )
        )
    for col in _both(f.partner, f.partner, i, j):
        reasons.append(
            Reason(
                "pitch",
                "You both want to get involved in '%(pitch)s'",
                {"pitch": f.titles[col]},
                W_PITCH,
            )
        )
    if f.relevance.shape[1]:
        joint = f.relevance[i] * f.relevance[j]
        best = int(np.argmax(joint))
        if joint[best] > 0:
            mine, theirs = int(f.scores[i, best]), int(f.scores[j, best])
            params = {
                "pitch": f.titles[best],
                "max": str(f.scale_max),
                "score": str(mine),
                "theirs": str(theirs),
            }
            template = (
                "You both rated '%(pitch)s' %(score)s/%(max)s"
                if mine == theirs
                else "You both rated '%(pitch)s' highly (%(score)s/%(max)s and %(theirs)s/%(max)s)"
            )
            reasons.append(
                Reason(
                    "vote",
                    template,
                    params,
                    (W_VOTE / VOTE_CAP) * float(min(joint.sum(), VOTE_CAP)),
                )
            )
    shared = _both(f.interests, f.interests, i, j)
    if shared:
        shared.sort(key=lambda c: -float(f.topic_idf[c]))
        reasons.append(
            Reason(
                "interest",
                "You share an interest in %(topics)s",
                {"topics": ", ".join(f.topics[c] for c in shared[:3])},
                W_INTEREST * float(sum(f.topic_idf[c] for c in shared)),
            )
        )
    weight = float(f.matrix[f.org[i], f.org[j]])
    if weight > 0:
        reasons.append(
            Reason(
                "org",
                "%(label_me)s ↔ %(label_other)s",
                {
                    "label_me": ORG_TYPE_LABELS[ORG_TYPES[f.org[i]]],
                    "label_other": ORG_TYPE_LABELS[ORG_TYPES[f.org[j]]],
                },
                W_ORG * weight,
            )
        )
    reasons.sort(key=lambda r: -r.weight)
    return reasons[:limit]


def _both(a: sp.csr_matrix, b: sp.csr_matrix, i: int, j: int) -> list[int]:
    """Columns set in row i of a and row j of b."""
    left = set(a.indices[a.indptr[i] : a.indptr[i + 1]].tolist())
    right = set(b.indices[b.indptr[j] : b.indptr[j + 1]].tolist())
    return sorted(left & right)
