"""The read-alert check (issue 29) over a real store: it reads only the reads recorded since its
checkpoint, counts the window across checks and processes, raises each alert once however many
processes check, and with the freeze action ends the actor's sessions and holds their sign-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from adapters.sessions import SessionTable
from application.accounts import invite, sign_in
from application.event_chain import EventChain
from application.read_audit import ReadAlertCheck, act_on_alert, alert_policy_in_force, record_read
from application.rules import apply_rules, join
from application.sessions import find_account, open_for, release_sign_ins
from domain.read_audit import ReadAlertPolicy
from domain.roster import Agent

POLICY = ReadAlertPolicy(max_rows=100, window=timedelta(hours=1), working_hours=None)


def reads(app: EventChain, actor: str, *rows: int) -> None:
    for count in rows:
        record_read(
            app, actor=actor, role=f"sales:{actor}", action="web.customers", subject="all", rows=count
        )


def test_each_check_reads_only_what_is_new_and_keeps_the_window_across_checks(store_url: str) -> None:
    app = EventChain.from_url(store_url, clock=lambda: datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    check = ReadAlertCheck(app, SessionTable(app.recorder), POLICY)
    reads(app, "a-wang", 60)
    reads(app, "a-li", 30)

    first = check.check()
    reads(app, "a-wang", 50)  # 110 within the hour, across two checks
    second = check.check()
    third = check.check()  # nothing new: nothing read, nothing raised again

    assert [] == first
    assert [("a-wang", 50)] == [(entry.actor, entry.rows) for entry, _ in second]
    assert "110 rows read within 60 min (limit 100)" in second[0][1][0]
    assert [] == third


def test_two_processes_checking_raise_each_alert_once(store_url: str) -> None:
    app = EventChain.from_url(store_url)
    other = EventChain.from_url(store_url)
    freeze = ReadAlertPolicy(max_rows=100, window=timedelta(hours=1), working_hours=None, action="freeze")
    checks = [ReadAlertCheck(a, SessionTable(a.recorder), freeze) for a in (app, other)]

    raised = []
    for round_number in range(6):
        reads(app, "a-wang", 40)
        raised += checks[round_number % 2].check()

    assert 4 == len(raised)  # reads 3..6 each take the hour's sum past 100, each raised once
    assert [120, 160, 200, 240] == [int(reasons[0].split()[0]) for _, reasons in raised]


def test_notify_tells_once_per_actor_per_window(store_url: str) -> None:
    now = [datetime(2026, 3, 2, 2, 0, tzinfo=UTC)]
    app = EventChain.from_url(store_url, clock=lambda: now[0])
    check = ReadAlertCheck(app, SessionTable(app.recorder), POLICY)

    told = []
    for _ in range(4):
        reads(app, "a-wang", 60)  # past 100 from the second read on
        reads(app, "a-li", 60)
        told += [(entry.actor, entry.rows) for entry, _ in check.check()]
        now[0] += timedelta(minutes=10)
    now[0] += POLICY.window
    reads(app, "a-wang", 120)
    told += [(entry.actor, entry.rows) for entry, _ in check.check()]

    assert [("a-wang", 60), ("a-li", 60), ("a-wang", 120)] == told


def test_the_freeze_action_ends_the_readers_sessions_and_holds_their_sign_ins(store_url: str) -> None:
    app = EventChain.from_url(store_url)
    table = SessionTable(app.recorder)
    join(app, Agent("a-wang", "王工", "hz"), "hr")
    password = invite(app, "a-wang", "ops")
    signed = sign_in(app, "a-wang", password, "10.0.0.7", "Chrome")
    session = open_for(app, table, "a-wang", signed.session_id, "10.0.0.7", "Chrome")
    freeze = ReadAlertPolicy(max_rows=100, window=timedelta(hours=1), working_hours=None, action="freeze")
    reads(app, "a-wang", 150)

    [(entry, reasons)] = ReadAlertCheck(app, table, freeze).check()
    frozen = act_on_alert(app, table, freeze, entry, reasons)

    account = find_account(app, "a-wang")
    assert frozen and account is not None and account.held is not None
    ended = table.get(session.key)
    assert ended is not None and "sign-ins held" == ended.ended_reason


def test_a_directors_release_forgives_the_reads_before_it(store_url: str) -> None:
    now = [datetime(2026, 3, 2, 2, 0, tzinfo=UTC)]
    app = EventChain.from_url(store_url, clock=lambda: now[0])
    table = SessionTable(app.recorder)
    join(app, Agent("a-wang", "王工", "hz"), "hr")
    invite(app, "a-wang", "ops")
    freeze = ReadAlertPolicy(max_rows=100, window=timedelta(hours=1), working_hours=None, action="freeze")
    check = ReadAlertCheck(app, table, freeze)
    reads(app, "a-wang", 150)
    [(entry, reasons)] = check.check()
    act_on_alert(app, table, freeze, entry, reasons)

    now[0] += timedelta(minutes=5)
    release_sign_ins(app, "a-wang", "m-zhao")
    now[0] += timedelta(minutes=1)
    reads(app, "a-wang", 7)
    after_release = check.check()
    reads(app, "a-wang", 100)
    past_it_again = check.check()

    assert [] == after_release
    assert [107] == [int(reasons[0].split()[0]) for _, reasons in past_it_again]


def test_the_web_workspace_publishes_its_alerts_on_the_actors_subject(nats_server: str) -> None:
    import asyncio
    import json
    from types import SimpleNamespace

    import nats

    from application.read_audit import ReadEntry
    from eventchain.web.app import alert_publisher

    publish = alert_publisher(SimpleNamespace(nats_url=nats_server, data_dir="/nonexistent"))
    entry = ReadEntry(
        uuid4(), "a-wang", "sales:a-wang", "web.customers", "all", 150, "web", datetime.now(UTC)
    )

    async def receive() -> bytes:
        connection = await nats.connect(nats_server)
        try:
            subscription = await connection.subscribe("notifications.read_alert.>")
            await connection.flush()
            await asyncio.get_running_loop().run_in_executor(None, publish, entry, ["150 rows"], True)
            message = await subscription.next_msg(timeout=10)
            return bytes(message.data)
        finally:
            await connection.close()

    body = json.loads(asyncio.run(receive()))

    assert ("a-wang", 150, True) == (body["actor"], body["rows"], body["frozen"])


def test_the_rules_in_force_set_the_policy_and_a_running_check_follows_a_revision(store_url: str) -> None:
    """Seed 001's freeze as a rule: who turned it on, when and why is a recorded revision; a
    running check (a serve's) follows the revision without a restart. Without [read_alerts]
    the environment decides, as before."""
    app = EventChain.from_url(store_url)
    table = SessionTable(app.recorder)
    join(app, Agent("a-wang", "王工", "hz"), "hr")
    invite(app, "a-wang", "ops")
    environ = {"EVENTCHAIN_READ_ALERT_ROWS": "0", "EVENTCHAIN_READ_ALERT_HOURS": "off"}  # all off
    check = ReadAlertCheck(
        app,
        table,
        alert_policy_in_force(app, environ),
        source=lambda: alert_policy_in_force(app, environ),
        refresh_s=0,
    )
    reads(app, "a-wang", 150)
    before_rules = check.check()

    apply_rules(
        app,
        '[read_alerts]\nrows = 100\nwindow_minutes = 60\nhours = "off"\naction = "freeze"\n',
        "m-zhao",
        "seed 001",
    )
    reads(app, "a-wang", 150)
    [(entry, reasons)] = check.check()
    frozen = act_on_alert(app, table, check.policy, entry, reasons)

    assert [] == before_rules  # the environment had every check off
    assert "freeze" == check.policy.action and 100 == check.policy.max_rows
    account = find_account(app, "a-wang")
    assert frozen and account is not None and account.held is not None
    apply_rules(
        app, "[sla]\nfirst_response_minutes = 15\n", "m-zhao", "no [read_alerts]: the environment again"
    )
    assert alert_policy_in_force(app, environ).max_rows == 0
