"""Duplicate-customer candidates on the labelled evaluation set (SPEC §8, issue 32):
precision and recall next to the 4-character company-key blocking they replaced."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations

from rapidfuzz import fuzz

from bench.harness import BenchContext, Figure
from domain.duplicates import Candidate, Profile, find_candidates
from domain.identities import clean_text
from domain.identity_rules import DEFAULT_IDENTITY_RULES, IdentityRules
from tests.duplicate_evaluation import evaluation_set, measure
from tests.resolution_evaluation import measure_resolution, resolution_set

# The company key and score replaced in issue 32, kept here as the bench's baseline only.
_OLD_NOISE = ("有限责任公司", "股份有限公司", "有限公司", "集团", "公司", "科技", "(", ")", "（", "）", " ")


def _old_company_key(company: str) -> str:
    text = clean_text(company)
    for noise in _OLD_NOISE:
        text = text.replace(noise, "")
    return text[:4]


def four_character_blocking(profiles: Iterable[Profile]) -> list[Candidate]:
    blocks: dict[str, list[Profile]] = defaultdict(list)
    for person in profiles:
        if person.company and person.name:
            blocks[_old_company_key(person.company)].append(person)
    found: list[Candidate] = []
    for block in blocks.values():
        for a, b in combinations(block, 2):
            left = f"{clean_text(a.name or '')} {clean_text(a.company or '')}"
            right = f"{clean_text(b.name or '')} {clean_text(b.company or '')}"
            score = fuzz.ratio(left, right) / 100
            if score >= 0.85:
                found.append(Candidate(a.customer_id, b.customer_id, "similar", score))
    return found


def run(ctx: BenchContext) -> list[Figure]:
    companies = max(150, ctx.scaled(2_000))
    evaluation = evaluation_set(companies=companies, seed=32)
    now = measure(evaluation, find_candidates(evaluation.profiles))
    before = measure(evaluation, four_character_blocking(evaluation.profiles))
    notes = (
        f"{len(evaluation.profiles):,} profiles, {len(evaluation.true_pairs()):,} true pairs; "
        f"{now.false_positives} false, {now.false_negatives} missed (docs/duplicates.md)"
    )
    return [
        Figure(
            "duplicate candidates: precision",
            now.precision * 100,
            "%",
            "≥ 99 %",
            "4-char company blocking (%)",
            before.precision * 100,
            notes,
        ),
        Figure(
            "duplicate candidates: recall",
            now.recall * 100,
            "%",
            "≥ 98 %",
            "4-char company blocking (%)",
            before.recall * 100,
            notes,
        ),
        *_resolution_figures(max(100, ctx.scaled(1_000))),
    ]


def _resolution_figures(companies: int) -> list[Figure]:
    evaluation = resolution_set(companies=companies, seed=32)
    now = measure_resolution(evaluation, DEFAULT_IDENTITY_RULES)
    before = measure_resolution(evaluation, IdentityRules(limits={}))
    notes = f"{len(evaluation.touchpoints):,} touchpoints of {companies:,} companies, pairs by company"
    return [
        Figure(
            "automatic resolution: precision",
            now.precision * 100,
            "%",
            "≥ 98 %",
            "no identity limits (%)",
            before.precision * 100,
            notes,
        ),
        Figure(
            "automatic resolution: recall",
            now.recall * 100,
            "%",
            "—",
            "no identity limits (%)",
            before.recall * 100,
            notes + "; a contact who never gives the USCC stays apart",
        ),
    ]
