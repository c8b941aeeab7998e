"""Suggested people to meet: explainable scores, vectorised for a whole event at once.

score(i, j) = W_INTEREST  · Σ idf(topic) over topics both picked (rare topics count more)
            + W_COMPLEMENT· Σ (1 + idf(offer)) over tags i seeks and j offers, and vice versa
            + W_ORG       · matrix[type i][type j] (organiser-editable; a sensible default)
            + W_VOTE      · min(Σ relevance_i · relevance_j over pitches, VOTE_CAP) / VOTE_CAP
            + W_PITCH     · pitches both want to get involved in
            + W_PRESENTER · pitches one presents and the other wants to get involved in

Relevance maps a rating onto 0..1 above the scale's middle (5/5 → 1, 4/5 → .5, ≤3 → 0),
so co-voting says "you both found this relevant", never "you both disliked it".

Rows are scored in blocks of attendees (each block against everyone) with sparse and
dense matrix products; the best ``CANDIDATES`` per row are kept. Popular people are then
damped: candidates are handed out best score first, and nobody is given to more than
``cap`` lists, so one attractive profile cannot fill every list. Reasons are worked out
only for the list one attendee looks at (eventapp.networking.reasons).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlmodel import Session

from eventapp.core.models import Event
from eventapp.networking.matching_queries import MatchingData, matching_data
from eventapp.networking.models import ORG_TYPE_LABELS, OrgType

W_INTEREST = 1.0
W_COMPLEMENT = 1.5
W_ORG = 1.5
W_VOTE = 2.0
VOTE_CAP = 3.0
W_PITCH = 1.5
W_PRESENTER = 3.0
MIN_SCORE = 0.5  # below this there is no reason worth telling: no suggestion
LIST_LENGTH = 10
CANDIDATES = 30
CAP_FACTOR = 2.0  # nobody appears in more than CAP_FACTOR × the average number of lists
BLOCK_ROWS = 1024
JITTER_RANK = 8
JITTER_SCALE = 1e-4  # × sqrt(JITTER_RANK) standard normals: about ±0.0003 per pair

ORG_TYPES = list(OrgType)
_T = {t: i for i, t in enumerate(ORG_TYPES)}
_O = OrgType
# Whom each organisation type profits from meeting (0..1); symmetric. Same type: 0, as
# peers meet anyway. City administration and start-ups/SMEs first: that is the pilot
# project pairing the model event exists for.
DEFAULT_ORG_MATRIX: dict[tuple[OrgType, OrgType], float] = {
    (_O.PUBLIC_ADMIN, _O.STARTUP): 1.0,
    (_O.PUBLIC_ADMIN, _O.SME): 1.0,
    (_O.PUBLIC_ADMIN, _O.RESEARCH): 0.8,
    (_O.PUBLIC_ADMIN, _O.LARGE_COMPANY): 0.8,
    (_O.PUBLIC_ADMIN, _O.NGO): 0.6,
    (_O.STARTUP, _O.LARGE_COMPANY): 0.8,
    (_O.STARTUP, _O.RESEARCH): 0.6,
    (_O.STARTUP, _O.SME): 0.4,
    (_O.SME, _O.RESEARCH): 0.8,
    (_O.SME, _O.LARGE_COMPANY): 0.6,
    (_O.RESEARCH, _O.LARGE_COMPANY): 0.6,
    (_O.NGO, _O.RESEARCH): 0.4,
    (_O.NGO, _O.STARTUP): 0.4,
    (_O.NGO, _O.SME): 0.3,
}
# Organisers type the matrix as words ("start-up: research, company"); these map them.
_SYNONYMS: dict[str, OrgType] = {
    "sme": _O.SME,
    "kmu": _O.SME,
    "mittelstand": _O.SME,
    "startup": _O.STARTUP,
    "start-up": _O.STARTUP,
    "start up": _O.STARTUP,
    "research": _O.RESEARCH,
    "research institute": _O.RESEARCH,
    "university": _O.RESEARCH,
    "forschung": _O.RESEARCH,
    "forschungseinrichtung": _O.RESEARCH,
    "hochschule": _O.RESEARCH,
    "large company": _O.LARGE_COMPANY,
    "large_company": _O.LARGE_COMPANY,
    "company": _O.LARGE_COMPANY,
    "corporate": _O.LARGE_COMPANY,
    "konzern": _O.LARGE_COMPANY,
    "großunternehmen": _O.LARGE_COMPANY,
    "global company": _O.LARGE_COMPANY,
    "public administration": _O.PUBLIC_ADMIN,
    "public_admin": _O.PUBLIC_ADMIN,
    "administration": _O.PUBLIC_ADMIN,
    "city": _O.PUBLIC_ADMIN,
    "city administration": _O.PUBLIC_ADMIN,
    "verwaltung": _O.PUBLIC_ADMIN,
    "öffentliche verwaltung": _O.PUBLIC_ADMIN,
    "stadt": _O.PUBLIC_ADMIN,
    "kommune": _O.PUBLIC_ADMIN,
    "ngo": _O.NGO,
    "association": _O.NGO,
    "association/ngo": _O.NGO,
    "verband": _O.NGO,
    "verein": _O.NGO,
    "verband/ngo": _O.NGO,
}


def org_type_of(label: str) -> OrgType | None:
    key = " ".join(label.strip().lower().split())
    if key in _SYNONYMS:
        return _SYNONYMS[key]
    for org, text in ORG_TYPE_LABELS.items():
        if text.lower() == key:
            return org
    return None


def org_matrix(raw: str) -> np.ndarray:
    """The event's matrix (row: who, column: whom to meet). ``{}`` means the default;
    organisers write ``{"start-up": ["research", "company"]}`` (weight 1) or weights."""
    matrix = np.zeros((len(ORG_TYPES) + 1, len(ORG_TYPES) + 1), dtype=np.float32)
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict) or not data:
        for (a, b), weight in DEFAULT_ORG_MATRIX.items():
            matrix[_T[a], _T[b]] = matrix[_T[b], _T[a]] = weight
        return matrix
    for left, targets in data.items():
        who = org_type_of(str(left))
        items = targets.items() if isinstance(targets, dict) else ((t, 1.0) for t in targets or [])
        for right, weight in items:
            whom = org_type_of(str(right))
            if who is not None and whom is not None:
                matrix[_T[who], _T[whom]] = max(0.0, min(1.0, float(weight)))
    return matrix


@dataclass
class Features:
    """An event's opted-in attendees as matrices, row i = ``ids[i]``."""

    ids: np.ndarray
    index: dict[int, int]
    names: list[str]
    topics: list[str]
    interests: sp.csr_matrix  # n × topics, 0/1
    topic_idf: np.ndarray
    tags: list[str]
    offers: sp.csr_matrix  # n × tags
    seeks: sp.csr_matrix
    tag_idf: np.ndarray
    org: np.ndarray  # n, index into ORG_TYPES, len(ORG_TYPES) when unknown
    matrix: np.ndarray
    pitch_ids: list[int]
    titles: list[str]
    scores: np.ndarray  # n × pitches, the rating (0: none)
    relevance: np.ndarray  # n × pitches, 0..1
    partner: sp.csr_matrix  # n × pitches, wants to get involved
    presents: sp.csr_matrix  # n × pitches
    scale_max: int
    excluded: list[tuple[int, int]] = field(default_factory=list)
    # The idf-weighted forms, made once per event rather than once per block.
    # Topics are few (tens): dense products through BLAS beat sparse ones here.
    interests_d: np.ndarray = field(init=False)  # with the one-hot organisation type
    interests_wd: np.ndarray = field(init=False)
    seeks_w: sp.csr_matrix = field(init=False)
    offers_w: sp.csr_matrix = field(init=False)

    def __post_init__(self) -> None:
        # Interests and organisation types in one product: [I·idf·W | onehot·M·W] @
        # [I | onehot]ᵀ gives the interest overlap plus matrix[type i][type j] at once.
        onehot = np.eye(len(ORG_TYPES) + 1, dtype=np.float32)[self.org]
        dense = self.interests.toarray().astype(np.float32)
        # Equal scores are common (same type, same tag). A few random columns add a
        # jitter of about ±0.001 that differs per pair (a random projection), so ties
        # are spread over everyone instead of all going to the lowest ids, which the
        # popularity cap would then leave half-filled. Fixed seed: the same every run.
        noise = np.random.default_rng(7).standard_normal((2, len(self.ids), JITTER_RANK))
        self.interests_wd = np.hstack(
            [
                dense * (self.topic_idf * np.float32(W_INTEREST)),
                onehot @ (self.matrix * np.float32(W_ORG)),
                noise[0] * JITTER_SCALE,
            ]
        ).astype(np.float32)
        self.interests_d = np.hstack([dense, onehot, noise[1]]).astype(np.float32)
        self.seeks_w = sp.csr_matrix(self.seeks.multiply(self.tag_idf))
        self.offers_w = sp.csr_matrix(self.offers.multiply(self.tag_idf))


def _binary(n: int, cols: int, pairs: list[tuple[int, int]]) -> sp.csr_matrix:
    if not pairs:
        return sp.csr_matrix((n, cols), dtype=np.float32)
    rows, cs = zip(*set(pairs), strict=True)
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cs)), shape=(n, cols), dtype=np.float32)


def _idf(matrix: sp.csr_matrix, n: int) -> np.ndarray:
    df = np.asarray((matrix > 0).sum(axis=0)).ravel()
    return np.log((n + 1) / (df + 1)).astype(np.float32)


def build_features(data: MatchingData, event: Event) -> Features:
    people = data.people
    n = len(people)
    index = {p.id: i for i, p in enumerate(people)}
    try:
        topics = [str(t) for t in json.loads(getattr(event, "topics", "[]") or "[]")]
    except ValueError:
        topics = []
    tcol = {t: k for k, t in enumerate(topics)}
    interests = _binary(
        n,
        len(topics),
        [(i, tcol[t]) for i, p in enumerate(people) for t in p.interests if t in tcol],
    )
    # Tags keep the spelling people typed; they match case-insensitively ("Förderung" and
    # "förderung" are one tag), shown as first spelled.
    spelling: dict[str, str] = {}
    for p in people:
        for t in (*p.offers, *p.seeks):
            spelling.setdefault(t.casefold(), t)
    offered = {t.casefold() for p in people for t in p.offers}
    sought = {t.casefold() for p in people for t in p.seeks}
    # Only tags both offered and sought can ever match: the vocabulary stays small.
    keys = sorted(offered & sought)
    tags = [spelling[k] for k in keys]
    gcol = {t: k for k, t in enumerate(keys)}
    offers = _binary(
        n,
        len(keys),
        [
            (i, gcol[t.casefold()])
            for i, p in enumerate(people)
            for t in p.offers
            if t.casefold() in gcol
        ],
    )
    seeks = _binary(
        n,
        len(keys),
        [
            (i, gcol[t.casefold()])
            for i, p in enumerate(people)
            for t in p.seeks
            if t.casefold() in gcol
        ],
    )
    pitch_ids = sorted(data.pitch_titles)
    pcol = {pid: k for k, pid in enumerate(pitch_ids)}
    scores = np.zeros((n, len(pitch_ids)), dtype=np.float32)
    votes = np.asarray(data.votes, dtype=np.int64).reshape(-1, 3)
    if n and len(votes) and pitch_ids:
        # Vectorised lookup of row and column: hundreds of thousands of votes.
        ids, pids = np.array([p.id for p in people]), np.array(pitch_ids)
        order = np.argsort(ids)
        row = np.clip(np.searchsorted(ids[order], votes[:, 0]), 0, n - 1)
        pcol_ = np.clip(np.searchsorted(pids, votes[:, 1]), 0, len(pids) - 1)
        known = (ids[order][row] == votes[:, 0]) & (pids[pcol_] == votes[:, 1])
        scores[order[row[known]], pcol_[known]] = votes[known, 2]
    lo, hi = int(getattr(event, "scale_min", 1)), int(getattr(event, "scale_max", 5))
    mid = (lo + hi) / 2
    relevance = np.where(scores > 0, np.clip((scores - mid) / max(hi - mid, 1e-9), 0, 1), 0)
    org = np.array(
        [
            _T.get(OrgType(p.org_type), len(ORG_TYPES))
            if p.org_type in set(OrgType)
            else len(ORG_TYPES)
            for p in people
        ],
        dtype=np.int64,
    )
    return Features(
        ids=np.array([p.id for p in people], dtype=np.int64),
        index=index,
        names=[p.name for p in people],
        topics=topics,
        interests=interests,
        topic_idf=_idf(interests, n),
        tags=tags,
        offers=offers,
        seeks=seeks,
        # Rarity of the offer, smoothed (+1): a match is worth something even when
        # everybody offers it, and more when few do.
        tag_idf=_idf(offers, n) + np.float32(1.0),
        org=org,
        matrix=org_matrix(getattr(event, "org_type_matrix", "{}")),
        pitch_ids=pitch_ids,
        titles=[data.pitch_titles[pid] for pid in pitch_ids],
        scores=scores,
        relevance=relevance.astype(np.float32),
        partner=_binary(
            n,
            len(pitch_ids),
            [(index[a], pcol[p]) for a, p in data.interests if a in index and p in pcol],
        ),
        presents=_binary(
            n,
            len(pitch_ids),
            [(index[a], pcol[p]) for a, p in data.presenters if a in index and p in pcol],
        ),
        scale_max=hi,
        excluded=data.excluded,
    )


def _add_sparse(out: np.ndarray, product: Any, weight: float) -> None:
    """out += weight · product, touching only the product's non-zeros."""
    coo = product.tocoo()
    if coo.nnz:
        # A CSR product has no duplicate entries, so fancy-index += is exact here.
        out[coo.row, coo.col] += np.float32(weight) * coo.data.astype(np.float32)


def score_block(
    f: Features, rows: slice, out: np.ndarray | None = None, tmp: np.ndarray | None = None
) -> np.ndarray:
    """Scores of attendees ``rows`` against everyone (block × n).

    Written into reused buffers: at 10,000 attendees a block is 40 MB, and fresh
    allocations of that size cost more (page faults) than the arithmetic.
    """
    size, n = rows.stop - rows.start, len(f.ids)
    s = (np.empty((size, n), np.float32) if out is None else out)[:size]
    t = (np.empty((size, n), np.float32) if tmp is None else tmp)[:size]
    np.matmul(f.interests_wd[rows], f.interests_d.T, out=s)
    if f.relevance.shape[1]:
        np.matmul(f.relevance[rows], f.relevance.T, out=t)
        np.minimum(t, np.float32(VOTE_CAP), out=t)
        t *= np.float32(W_VOTE / VOTE_CAP)
        s += t
    _add_sparse(s, f.seeks_w[rows] @ f.offers.T, W_COMPLEMENT)
    _add_sparse(s, f.offers_w[rows] @ f.seeks.T, W_COMPLEMENT)
    _add_sparse(s, f.partner[rows] @ f.partner.T, W_PITCH)
    _add_sparse(s, f.partner[rows] @ f.presents.T, W_PRESENTER)
    _add_sparse(s, f.presents[rows] @ f.partner.T, W_PRESENTER)
    return s


@dataclass
class Suggestions:
    features: Features
    picks: np.ndarray  # n × LIST_LENGTH row indices, -1 where none
    scores: np.ndarray  # n × LIST_LENGTH

    def for_attendee(self, attendee_id: int) -> list[tuple[int, float]]:
        i = self.features.index.get(attendee_id)
        if i is None:
            return []
        return [
            (int(self.features.ids[j]), float(s))
            for j, s in zip(self.picks[i], self.scores[i], strict=True)
            if j >= 0
        ]


def compute_suggestions(f: Features) -> Suggestions:
    """Every opted-in attendee's list, in one vectorised pass plus popularity damping."""
    n = len(f.ids)
    k = min(CANDIDATES, max(n - 1, 0))
    cand = np.full((n, k), -1, dtype=np.int64)
    cand_s = np.full((n, k), -np.inf, dtype=np.float32)
    excluded = np.array(
        [(f.index[a], f.index[b]) for a, b in f.excluded if a in f.index and b in f.index],
        dtype=np.int64,
    ).reshape(-1, 2)
    excluded = np.concatenate([excluded, excluded[:, ::-1]])
    rows = min(BLOCK_ROWS, n)
    out, tmp = np.empty((rows, n), np.float32), np.empty((rows, n), np.float32)
    for start in range(0, n, BLOCK_ROWS):
        stop = min(n, start + BLOCK_ROWS)
        s = score_block(f, slice(start, stop), out, tmp)
        local = np.arange(stop - start)
        s[local, local + start] = -np.inf  # never oneself
        mine = excluded[(excluded[:, 0] >= start) & (excluded[:, 0] < stop)]
        s[mine[:, 0] - start, mine[:, 1]] = -np.inf
        s[s < MIN_SCORE] = -np.inf
        if k == 0:
            continue
        top = np.argpartition(s, -k, axis=1)[:, -k:]
        cand[start:stop] = top
        cand_s[start:stop] = np.take_along_axis(s, top, axis=1)
    return Suggestions(f, *_damp(cand, cand_s, n))


def _damp(cand: np.ndarray, cand_s: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hand out candidates best first; a person already in ``cap`` lists is skipped."""
    picks = np.full((n, LIST_LENGTH), -1, dtype=np.int64)
    scores = np.zeros((n, LIST_LENGTH), dtype=np.float32)
    flat = cand_s.ravel()
    valid = np.flatnonzero(np.isfinite(flat))
    order = valid[np.argsort(-flat[valid], kind="stable")]
    if not len(order):
        return picks, scores
    # The average list is at most LIST_LENGTH long, so is the average number of lists a
    # person is in; nobody may be in more than CAP_FACTOR times that.
    cap = math.ceil(CAP_FACTOR * min(LIST_LENGTH, len(order) / n))
    filled = np.zeros(n, dtype=np.int64)
    given = np.zeros(n, dtype=np.int64)
    rows = (order // cand.shape[1]).tolist()
    cols = cand.ravel()[order].tolist()
    values = flat[order].tolist()
    for i, j, v in zip(rows, cols, values, strict=True):
        if filled[i] < LIST_LENGTH and given[j] < cap:
            picks[i, filled[i]] = j
            scores[i, filled[i]] = v
            filled[i] += 1
            given[j] += 1
    return picks, scores


def load_and_compute(session: Session, event_id: int) -> Suggestions:
    event = session.get(Event, event_id)
    if event is None:
        raise LookupError(event_id)
    return compute_suggestions(build_features(matching_data(session, event_id), event))
