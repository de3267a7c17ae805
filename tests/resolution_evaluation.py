"""A labelled evaluation set for automatic resolution (issue 32, docs/duplicates.md).

Companies (a USCC each) with one to three contacts (a mobile each, sometimes an email);
every contact's touchpoints carry their mobile or email and, half the time, the company's
USCC. Agencies and resellers: a few phones that touchpoints of several companies carry. The
label of a touchpoint is its company: two touchpoints belong on one customer when they are
the same company's (a USCC names a party, so colleagues who give it join one account).
Precision: of the touchpoint pairs resolution put on one customer, the share that are one
company's; recall: of one company's pairs, the share on one customer.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

from stdnum.cn import uscc as uscc_number

from domain.customer import Customer
from domain.identity_rules import IdentityRules
from domain.resolution import BatchResolver
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from tests.duplicate_evaluation import Quality

AGENCIES = 6
_NOW = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ResolutionSet:
    touchpoints: list[AcceptedTouchpoint]
    company_of: dict[str, int]  # touchpoint id → company


def resolution_set(companies: int = 300, seed: int = 32) -> ResolutionSet:
    rng = random.Random(seed)
    agencies = [f"1380571{n:04d}" for n in range(AGENCIES)]
    touchpoints: list[AcceptedTouchpoint] = []
    company_of: dict[str, int] = {}
    for company in range(companies):
        uscc = _uscc(company)
        for contact in range(rng.randint(1, 3)):
            mobile = f"139{company:05d}{contact:03d}"
            email = f"c{company}p{contact}@example-{company}.cn"
            for _ in range(rng.randint(1, 4)):
                ids = [{"kind": "phone", "value": mobile}]
                if rng.random() < 0.3:
                    ids = [{"kind": "email", "value": email}]
                if rng.random() < 0.5:
                    ids.append({"kind": "uscc", "value": uscc})
                if rng.random() < 0.08:  # the agency that filled the form in
                    ids.append({"kind": "phone", "value": rng.choice(agencies)})
                touchpoint_id = f"r-{len(touchpoints)}"
                touchpoints.append(_touch(touchpoint_id, len(touchpoints), ids))
                company_of[touchpoint_id] = company
    rng.shuffle(touchpoints)
    return ResolutionSet(touchpoints, company_of)


def measure_resolution(evaluation: ResolutionSet, rules: IdentityRules) -> Quality:
    resolver = BatchResolver({}, {}, _NOW, rules=rules)
    placed = {a.touchpoint_id: resolver.place(a).customer_id for a in evaluation.touchpoints}
    customers = {c.id: c for c in resolver.changed if isinstance(c, Customer)}
    customer_of = {}
    for touchpoint_id, customer_id in placed.items():
        customer = customers[customer_id]
        while customer.merged_into is not None:
            customer = customers[customer.merged_into]
        customer_of[touchpoint_id] = customer.id
    together = _pairs(customer_of)
    truth = _pairs(evaluation.company_of)
    return Quality(len(together & truth), len(together - truth), len(truth - together))


def _pairs(group_of: dict[str, Any]) -> set[frozenset[str]]:
    groups: dict[Any, list[str]] = defaultdict(list)
    for member, group in group_of.items():
        groups[group].append(member)
    return {frozenset(pair) for members in groups.values() for pair in combinations(members, 2)}


def _uscc(number: int) -> str:
    body = f"91330106MA{number:07d}"
    return body + uscc_number.calc_check_digit(body)


def _touch(touchpoint_id: str, minute: int, identities: list[dict[str, str]]) -> AcceptedTouchpoint:
    return decode_touchpoint(
        json.dumps(
            {
                "touchpoint_id": touchpoint_id,
                "channel": "web_form",
                "occurred_at": f"2026-03-02T{8 + minute // 60 % 12:02d}:{minute % 60:02d}:00+08:00",
                "direction": "inbound",
                "actor": None,
                "identities": identities,
                "payload": {"form_id": "f"},
            }
        )
    )
