"""What the projector does with each event of the catalogue (domain/events.py), by class.

Every event class is either projected (it changes a view) or declared not projected: an
event added to an aggregate and listed in neither set stops the import with its name, so
nothing is dropped silently. The fields the fast decoder turns back into text come from
the projected classes' type hints; projections/views.py checks, at import, that every
projected class has exactly one handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from eventsourcing.domain import DomainEvent

from domain.accounts import Account
from domain.customer import FOLLOW_UP_EVENTS, Customer, IdentityIndex
from domain.dead_letters import DeadLetterAction
from domain.erasure_purges import DeferredPurge
from domain.events import CATALOGUE, kind_of
from domain.imports import ImportBatch
from domain.intake import IntakeManifest, IntakeTally
from domain.read_audit import ReadAudit
from domain.roster import Roster
from domain.rules import RuleSet

PROJECTED: Final[frozenset[type[DomainEvent]]] = frozenset(
    {
        Customer.Created,
        Customer.TouchpointRecorded,
        Customer.MergedInto,
        Customer.Absorbed,
        Customer.Unmerged,
        Customer.Restored,
        Customer.LeadAssigned,
        Customer.FirstResponseOverdue,
        Customer.StageChanged,
        Customer.TagsChanged,
        Customer.PersonalDataErased,
        Customer.Corrected,
        Customer.TouchpointRetracted,
        ImportBatch.Completed,
        RuleSet.RulesRevised,
        *FOLLOW_UP_EVENTS.values(),
        IntakeTally.Counted,
        IntakeManifest.Received,
        DeadLetterAction.Created,
        Roster.AgentJoined,
        Roster.AgentUpdated,
        Roster.AgentLeft,
        Account.Invited,
        Account.SignedIn,
    }
)
# Identity index entries, roster and account documents, read audits: no view shows them.
# Held identity links are read from the store by `eventchain duplicates`.
# (Intake tallies and dead-letter actions are projected: the intake ledger counts them; the
# roster, invitations and sign-ins too: the CRM health check reads teams and activity.)
NOT_PROJECTED: Final[frozenset[type[DomainEvent]]] = frozenset(
    {
        Customer.FollowUpDecided,  # the base of the follow-up events, never stored itself
        Customer.IdentityLinkHeld,
        IdentityIndex.Created,
        IdentityIndex.Released,
        IdentityIndex.Reclaimed,
        RuleSet.Created,
        Roster.Created,
        ImportBatch.Created,
        IntakeTally.Created,
        IntakeManifest.Created,
        Account.Created,
        Account.PasswordReset,
        Account.ExecGranted,
        Account.ExecRevoked,
        Account.SignInFailed,
        Account.SignedOut,
        Account.LinkIssued,
        Account.PasswordChanged,
        Account.SignInsHeld,
        Account.SignInsReleased,
        ReadAudit.Created,
        DeferredPurge.Created,
        DeferredPurge.Purged,
    }
)
# Events that move rows between customers: the views flush their buffers before each.
MOVES: Final[frozenset[type[DomainEvent]]] = frozenset(
    {
        Customer.MergedInto,
        Customer.Absorbed,
        Customer.Unmerged,
        Customer.Restored,
        Customer.PersonalDataErased,
    }
)
# Events DuckDB decodes itself from the stored JSON (the bulk of any log), and the one-byte
# tag each staged NDJSON line carries (projections/bulk.py reads it).
STAGED: Final[Mapping[type[DomainEvent], bytes]] = {Customer.Created: b"C", Customer.TouchpointRecorded: b"T"}


def _check() -> None:
    undecided = set(CATALOGUE) - PROJECTED - NOT_PROJECTED
    if undecided:
        names = ", ".join(sorted(kind_of(c) for c in undecided))
        raise ImportError(f"projections/catalogue.py: say whether these events are projected: {names}")
    unknown = (PROJECTED | NOT_PROJECTED) - set(CATALOGUE)
    both = PROJECTED & NOT_PROJECTED
    if unknown or both or not MOVES <= PROJECTED or not set(STAGED) <= PROJECTED:
        raise ImportError("projections/catalogue.py: PROJECTED/NOT_PROJECTED/MOVES/STAGED disagree")


_check()

PROJECTED_KINDS: Final = frozenset(kind_of(c) for c in PROJECTED)
MOVES_KINDS: Final = frozenset(kind_of(c) for c in MOVES)
STAGED_KINDS: Final[Mapping[str, bytes]] = {kind_of(c): tag for c, tag in STAGED.items()}
TOPICS: Final[Mapping[str, str]] = {kind_of(c): CATALOGUE[c].topic for c in PROJECTED}
TIME_FIELDS: Final = tuple(sorted({f for c in PROJECTED for f in CATALOGUE[c].time_fields}))
UUID_FIELDS: Final = tuple(sorted({f for c in PROJECTED for f in CATALOGUE[c].uuid_fields}))
UUID_LIST_FIELDS: Final = tuple(sorted({f for c in PROJECTED for f in CATALOGUE[c].uuid_list_fields}))
