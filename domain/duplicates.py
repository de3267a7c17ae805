"""Duplicate-customer candidates (SPEC §6, seed 001: one customer entered 5 times by 3 reps).

A pair is a candidate when a strong identity matches (phone, email, USCC: possible only
where merge protection or an identity limit kept two customers apart) or when it is the same
person at the same company: names and normalised company names (domain.company_names) agree,
one exactly and the other up to a one-character typo (rapidfuzz); a name in Chinese characters
and one in Latin letters agree when they spell alike (王芳 / Wang Fang, domain.name_spellings).
A colleague (another name
at the company) and a namesake (the name at another company) are not candidates. Pairs are
blocked by identity, by company and by name before any comparison, so the work stays
near-linear in the number of customers. Precision and recall on a labelled set: docs/duplicates.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Final

from rapidfuzz.distance import Levenshtein

from domain.company_names import CompanyName, parse_company
from domain.identities import STRONG_KINDS, clean_text, identity_kind
from domain.name_spellings import is_han, spellings

MAX_BLOCK: Final = 200  # a larger block (a big employer, a common name) is split further
# One typed character apart: a typo, when the other half (person or company) agrees exactly.
MAX_TYPO_EDITS: Final = 1
MIN_TYPO_LENGTH: Final = 3  # two-character names one character apart are different people


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


def find_candidates(profiles: Iterable[Profile]) -> list[Candidate]:
    people = [PersonAtCompany.of(profile) for profile in profiles]
    found: dict[tuple[str, str], Candidate] = {}
    by_identity: dict[str, list[Profile]] = defaultdict(list)
    for person in people:
        for key in person.profile.identity_keys:
            if identity_kind(key) in STRONG_KINDS:
                by_identity[key].append(person.profile)
    for key, group in by_identity.items():
        for a, b in combinations(sorted(group, key=lambda p: p.customer_id), 2):
            found[(a.customer_id, b.customer_id)] = Candidate(
                a.customer_id, b.customer_id, f"same {key}", 1.0
            )
    for block in _blocks(people):
        for one, other in combinations(sorted(block, key=lambda p: p.profile.customer_id), 2):
            pair = (one.profile.customer_id, other.profile.customer_id)
            if pair in found:
                continue
            score = same_person_score(one, other)
            if score is not None:
                found[pair] = Candidate(*pair, "similar name and company", round(score, 3))
    return sorted(found.values(), key=lambda c: (-c.score, c.a, c.b))


@dataclass(frozen=True, slots=True)
class PersonAtCompany:
    profile: Profile
    name: str
    company: CompanyName
    spelled: frozenset[str]  # the name's Latin spellings (pinyin for a name in characters)
    han: bool  # written in Chinese characters

    @classmethod
    def of(cls, profile: Profile) -> PersonAtCompany:
        written = clean_text(profile.name or "")
        name = "".join(written.casefold().split())
        return cls(profile, name, parse_company(profile.company), spellings(written), is_han(name))

    @property
    def comparable(self) -> bool:
        return bool(self.name and self.company.trade)


def same_person_score(a: PersonAtCompany, b: PersonAtCompany) -> float | None:
    """How alike two people are (0–1), or None when they are not the same person: the names
    and the companies must both agree, one of them exactly, the other up to a typo. A
    different name at the same company is a colleague; the same name at a company in
    another city, another branch or another trade name is a namesake."""
    if not (a.comparable and b.comparable):
        return None
    if a.company.branch != b.company.branch or not a.company.same_place(b.company):
        return None
    names = _alike(a.name, b.name)
    if names is None and a.han != b.han and a.spelled & b.spelled:
        names = 1.0  # the same name in characters and in pinyin: Wang Fang is 王芳
    trades = _alike(a.company.trade, b.company.trade)
    if names is None or trades is None or min(names, trades) < 1.0 > max(names, trades):
        return None
    return (names + trades) / 2


def _alike(left: str, right: str) -> float | None:
    if left == right:
        return 1.0
    if min(len(left), len(right)) < MIN_TYPO_LENGTH or Levenshtein.distance(left, right) > MAX_TYPO_EDITS:
        return None
    return float(Levenshtein.normalized_similarity(left, right))


def _blocks(people: list[PersonAtCompany]) -> Iterable[list[PersonAtCompany]]:
    """Blocks by company (trade name and branch: variants that drop the region stay in) and
    by person name, as written and as spelled in Latin letters (a typo in the company): only
    pairs in one block are compared."""
    by_company: dict[str, list[PersonAtCompany]] = defaultdict(list)
    by_name: dict[str, list[PersonAtCompany]] = defaultdict(list)
    for person in people:
        if person.comparable:
            by_company[person.company.block].append(person)
            by_name[person.name].append(person)
            for spelled in person.spelled - {person.name}:
                by_name[f"spelled:{spelled}"].append(person)
    for block in by_company.values():
        yield from _split(block, lambda p: p.name[:1])
    for block in by_name.values():
        yield from _split(block, lambda p: p.company.region)


def _split(
    block: list[PersonAtCompany], part: Callable[[PersonAtCompany], str]
) -> Iterable[list[PersonAtCompany]]:
    if len(block) < 2:
        return
    if len(block) <= MAX_BLOCK:
        yield block
        return
    parts: dict[str, list[PersonAtCompany]] = defaultdict(list)
    for person in block:
        parts[part(person)].append(person)
    for group in parts.values():
        yield group[:MAX_BLOCK]
