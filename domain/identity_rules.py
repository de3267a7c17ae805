"""Identity limits and priorities (SPEC §6, issue 32), the way Segment Unify has them.

Per identity kind, how many values one customer may hold (one USCC: a customer with two is
two companies fused) and which kinds outrank which when a touchpoint's identities name
different customers. Resolution (domain/resolution.py) places a touchpoint on the customer
its highest-priority identity names, joins the others only where no limit breaks, and holds
every other link as a candidate with its reason — never a silent fusion.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from domain.identities import IDENTITY_KINDS, identity_kind

# A buyer's record rightly gathers several phones and mailboxes (mobile, office, assistant):
# a low limit would split buyers. Beyond a limit above 1, which value is held depends on
# arrival order (the first ones fill it); a limit of 1 (USCC) holds the same links in any order.
DEFAULT_LIMITS: Final[Mapping[str, int]] = {"uscc": 1, "phone": 10, "email": 10}
DEFAULT_PRIORITY: Final[tuple[str, ...]] = (
    "uscc",
    "email",
    "phone",
    "wecom_external_id",
    "douyin_open_id",
    "xhs_id",
    "pos_card",
)


@dataclass(frozen=True, slots=True)
class IdentityRules:
    limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    priority: tuple[str, ...] = DEFAULT_PRIORITY  # kinds not listed come after, by name

    def rank(self, key: str) -> tuple[int, str, str]:
        """Sort key: higher-priority identities first; ties by kind, then value."""
        kind = identity_kind(key)
        position = self.priority.index(kind) if kind in self.priority else len(self.priority)
        return (position, kind, key)

    def breach(self, before: Iterable[str], after: Iterable[str]) -> str | None:
        """Why going from holding ``before`` to holding ``after`` breaks a limit, or None. A
        kind already over its limit (a customer fused before the rules) only breaks by growing."""
        had = Counter(identity_kind(key) for key in set(before))
        has = Counter(identity_kind(key) for key in set(after))
        for kind in sorted(has):
            limit = self.limits.get(kind)
            if limit is not None and has[kind] > limit and has[kind] > had[kind]:
                return f"{kind} allows {limit} per customer; joining would make {has[kind]}"
        return None

    def over_limit(self, keys: Iterable[str]) -> list[str]:
        """Kinds whose values in ``keys`` exceed their limit: a fused customer."""
        counts = Counter(identity_kind(key) for key in set(keys))
        return sorted(kind for kind, n in counts.items() if n > self.limits.get(kind, n))


DEFAULT_IDENTITY_RULES: Final = IdentityRules()


def check_identity_rules(limits: Mapping[str, int], priority: Iterable[str]) -> str | None:
    """What is wrong with limits and a priority list as an operator wrote them, or None."""
    for kind in [*limits, *priority]:
        if kind not in IDENTITY_KINDS:
            return f"unknown identity kind {kind!r}; expected one of {IDENTITY_KINDS}"
    listed = list(priority)
    if len(set(listed)) != len(listed):
        return "a kind is listed twice in priority"
    return None
