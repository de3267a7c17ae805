"""Duplicate-customer candidates (SPEC §6, seed 001: one customer entered 5 times by 3 reps).

A pair is a candidate when a strong identity matches (phone, email, USCC: possible only
where merge protection kept two customers apart) or when name + company are similar
(rapidfuzz, score ≥ 0.85). Candidates are blocked by identity and by a company key before
any fuzzy comparison, so the work stays near-linear in the number of customers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Final

from rapidfuzz import fuzz

from domain.identities import STRONG_KINDS, clean_text, identity_kind

SIMILARITY: Final = 0.85
MAX_BLOCK: Final = 200  # a block larger than this (e.g. "有限公司") is split by name too
_COMPANY_NOISE: Final = (
    "有限责任公司",
    "股份有限公司",
    "有限公司",
    "集团",
    "公司",
    "科技",
    "(",
    ")",
    "（",
    "）",
    " ",
)


@dataclass(frozen=True, slots=True)
class Profile:
    customer_id: str
    name: str | None
    company: str | None
    identity_keys: frozenset[str]


@dataclass(frozen=True, slots=True)
class Candidate:
    a: str
    b: str
    reason: str
    score: float


def company_key(company: str | None) -> str:
    text = clean_text(company or "")
    for noise in _COMPANY_NOISE:
        text = text.replace(noise, "")
    return text[:4]


def similarity(a: Profile, b: Profile) -> float:
    left = f"{clean_text(a.name or '')} {clean_text(a.company or '')}".strip()
    right = f"{clean_text(b.name or '')} {clean_text(b.company or '')}".strip()
    if not left or not right:
        return 0.0
    return float(fuzz.ratio(left, right)) / 100


def find_candidates(profiles: Iterable[Profile]) -> list[Candidate]:
    people = list(profiles)
    found: dict[tuple[str, str], Candidate] = {}
    by_identity: dict[str, list[Profile]] = defaultdict(list)
    by_company: dict[str, list[Profile]] = defaultdict(list)
    for person in people:
        for key in person.identity_keys:
            if identity_kind(key) in STRONG_KINDS:
                by_identity[key].append(person)
        if person.company and person.name:
            by_company[company_key(person.company)].append(person)
    for key, group in by_identity.items():
        for a, b in combinations(sorted(group, key=lambda p: p.customer_id), 2):
            found[(a.customer_id, b.customer_id)] = Candidate(
                a.customer_id, b.customer_id, f"same {key}", 1.0
            )
    for block in by_company.values():
        for sub in _split(block):
            for a, b in combinations(sorted(sub, key=lambda p: p.customer_id), 2):
                pair = (a.customer_id, b.customer_id)
                if pair in found:
                    continue
                score = similarity(a, b)
                if score >= SIMILARITY:
                    found[pair] = Candidate(*pair, "similar name and company", round(score, 3))
    return sorted(found.values(), key=lambda c: (-c.score, c.a, c.b))


def _split(block: list[Profile]) -> list[list[Profile]]:
    if len(block) <= MAX_BLOCK:
        return [block]
    by_name: dict[str, list[Profile]] = defaultdict(list)
    for person in block:
        by_name[clean_text(person.name or "")[:1]].append(person)
    return [group[:MAX_BLOCK] for group in by_name.values()]
