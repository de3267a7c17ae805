"""A rep's day in a real headless Chromium, over the real path a lead travels: recorded through
the application (what ingest does), assigned by the router, projected and published by the
projector (both running beside the web, as in ``serve``), shown on the desk by its live check.
At a desktop width and on a 390 px phone."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from domain.customer import customer_id_for
from tests.e2e.conftest import WIDTHS, fits
from tests.web_support import RunningWorkspace, record_lead, snapshot_row, start_live_workspace

pytest.importorskip("playwright.sync_api")
NUMBERS = itertools.count(1)
# A Hangzhou smart-hardware lead: the router gives it to 王工 (a-wang), by city and skill.
HANGZHOU = {"name": "李雷", "company": "杭州某智能硬件有限公司", "city": "杭州", "industry": "智能硬件"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorkspace]:
    yield from start_live_workspace(tmp_path_factory.mktemp("web-rep-day"))


def new_lead(
    workspace: RunningWorkspace, text: str = "想了解视觉质检方案", **kwargs: Any
) -> tuple[str, str, str]:
    """A new web-form lead, once the router has given it an owner: (customer, owner, phone)."""
    number = next(NUMBERS)
    phone = kwargs.pop("phone", f"1390571{number:04d}")
    touchpoint_id = f"wf-rep-day-{number}-{UUID(int=number).hex[-6:]}"
    record_lead(workspace, touchpoint_id, phone=phone, text=text, contact=HANGZHOU, **kwargs)
    customer, owner = snapshot_row(
        workspace,
        "SELECT t.customer_id::VARCHAR, c.owner_agent_id FROM touchpoints t "
        "JOIN customer_360 c USING (customer_id) WHERE t.touchpoint_id = ? AND c.owner_agent_id IS NOT NULL",
        [touchpoint_id],
    )
    return customer, owner, phone


def log_on_page(page: Any, kind: str, outcome: str, note: str) -> None:
    page.select_option("#log-form select[name=kind]", kind)
    page.select_option("#log-form select[name=outcome]", outcome)
    page.fill("#log-form textarea[name=note]", note)
    page.click("#log-submit")
    page.wait_for_selector("#notice")


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_a_new_web_form_lead_appears_on_the_desk_within_two_seconds_with_its_question_and_tags(
    page_for: Any, workspace: RunningWorkspace, width_name: str
) -> None:
    page = page_for("a-wang", WIDTHS[width_name])
    page.wait_for_timeout(1_500)  # the desk's live check has taken its first look
    number = next(NUMBERS)
    touchpoint_id = f"wf-arrives-{number}"

    customer = str(customer_id_for(touchpoint_id))  # a new customer's id derives from its first touchpoint

    record_lead(
        workspace,
        touchpoint_id,
        phone=f"1380571{number:04d}",
        text="手术室设备质检方案，急",
        contact=HANGZHOU,
    )
    row = page.wait_for_selector(f"#waiting li[data-customer='{customer}']", timeout=2_000)

    assert "手术室设备质检方案，急" in row.inner_text()
    page.wait_for_selector(f"#waiting li[data-customer='{customer}'] .tag-urgent")
    assert "急" == page.inner_text(f"#waiting li[data-customer='{customer}'] .tag-urgent")
    assert page.title().startswith("(")
    answer = page.query_selector(f"#waiting li[data-customer='{customer}'] a.answer")
    deadline = page.query_selector(f"#waiting li[data-customer='{customer}'] .countdown")
    for element in (answer, deadline):
        box = element.bounding_box()
        assert box is not None and box["x"] + box["width"] <= WIDTHS[width_name]
    assert fits(page)
    assert [] == page.errors


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_the_rep_sees_the_phone_logs_a_call_and_the_lead_leaves_waiting_at_once(
    page_for: Any, workspace: RunningWorkspace, width_name: str
) -> None:
    customer, owner, phone = new_lead(workspace, "需要三台样机报价")
    page = page_for(owner, WIDTHS[width_name])
    page.goto(f"{workspace.url}/customers/{customer}")

    assert f"+86{phone}" in page.inner_text("#contacts")
    assert "需要三台样机报价" in page.inner_text("#asked")
    log_on_page(page, "call", "reached", "已电话沟通，周五寄样机")

    assert "已记录" in page.inner_text("#notice")
    assert "已电话沟通，周五寄样机" in page.inner_text("#timeline li.just")
    page.goto(f"{workspace.url}/desk")
    assert page.query_selector(f"#waiting li[data-customer='{customer}']") is None
    assert fits(page)
    answered, responded = snapshot_row(
        workspace,
        "SELECT l.first_response_at IS NOT NULL, c.responded FROM lead_response l, "
        "ctre_between(l.lead_at, l.lead_at + INTERVAL 1 SECOND, now()) c "
        "WHERE l.customer_id = ? AND c.channel = 'web_form' AND l.first_response_at IS NOT NULL",
        [customer],
    )
    assert (True, 1) == (answered, responded)
    assert [] == page.errors


def test_a_double_click_records_once(page_for: Any, workspace: RunningWorkspace) -> None:
    customer, owner, _ = new_lead(workspace)
    page = page_for(owner)
    page.goto(f"{workspace.url}/customers/{customer}")
    page.select_option("#log-form select[name=kind]", "sms")
    page.select_option("#log-form select[name=outcome]", "sent")
    page.fill("#log-form textarea[name=note]", "已发短信：资料已发邮箱")
    form = page.eval_on_selector(
        "#log-form", "f => Object.fromEntries(new FormData(f).entries())"
    )  # what a second submit would send

    page.dblclick("#log-submit")
    page.wait_for_selector("#notice")
    again = page.request.post(f"{workspace.url}/customers/{customer}/log", form=form, max_redirects=0)

    assert 303 == again.status
    notes = [
        t
        for t in workspace.app.get_customer(UUID(customer)).touchpoints.values()
        if "资料已发邮箱" in t.summary
    ]
    assert 1 == len(notes) and "sms" == notes[0].channel


def test_a_mistaken_log_is_corrected_and_the_figures_follow(
    page_for: Any, workspace: RunningWorkspace
) -> None:
    customer, owner, _ = new_lead(workspace)
    page = page_for(owner)
    page.goto(f"{workspace.url}/customers/{customer}")
    log_on_page(page, "call", "no_answer", "误点：其实打给了别的客户")
    snapshot_row(
        workspace,
        "SELECT 1 FROM lead_response WHERE customer_id = ? AND first_response_at IS NOT NULL",
        [customer],
    )
    page.goto(f"{workspace.url}/customers/{customer}")

    page.click("#timeline li.outbound details.retract summary")
    page.fill("#timeline li.outbound details.retract input[name=reason]", "记错了客户")
    page.click("#timeline li.outbound details.retract button")
    page.wait_for_selector("#notice")

    assert "已更正" in page.inner_text("#timeline li.retracted")
    snapshot_row(
        workspace,
        "SELECT 1 FROM lead_response WHERE customer_id = ? AND first_response_at IS NULL",
        [customer],
    )
    chain = workspace.app.get_customer(UUID(customer))
    assert chain.first_response is None and any("误点" in t.summary for t in chain.touchpoints.values())


def test_a_wecom_lead_is_answered_on_wecom(page_for: Any, workspace: RunningWorkspace) -> None:
    number = next(NUMBERS)
    record_lead(
        workspace,
        f"wm-rep-day-{number}",
        channel="wecom_msg",
        external_id=f"wmEXT{number:04d}",
        text="你们的设备支持定制吗",
        contact=HANGZHOU,
    )
    customer, owner = snapshot_row(
        workspace,
        "SELECT t.customer_id::VARCHAR, c.owner_agent_id FROM touchpoints t "
        "JOIN customer_360 c USING (customer_id) WHERE t.touchpoint_id = ? AND c.owner_agent_id IS NOT NULL",
        [f"wm-rep-day-{number}"],
    )
    page = page_for(owner)
    page.goto(f"{workspace.url}/customers/{customer}")

    log_on_page(page, "wecom", "sent", "支持定制，稍后发您参数表")

    first = workspace.app.get_customer(UUID(customer)).first_response
    assert first is not None and ("wecom_msg", "outbound", owner) == (
        first.channel,
        first.direction,
        first.actor,
    )


def test_a_refusal_is_a_chinese_error_and_the_note_stays_in_the_form(
    page_for: Any, workspace: RunningWorkspace
) -> None:
    customer, owner, _ = new_lead(workspace)
    page = page_for(owner)
    page.goto(f"{workspace.url}/customers/{customer}")
    page.eval_on_selector_all(
        "#log-form [required]", "els => els.forEach(e => e.removeAttribute('required'))"
    )
    page.fill("#log-form textarea[name=note]", "客户说下周再联系")

    page.click("#log-submit")
    page.wait_for_selector("#message")

    assert "请选择沟通结果" in page.inner_text("#message")
    assert "error" in (page.get_attribute("#message", "class") or "")
    assert page.query_selector("#notice") is None
    assert "客户说下周再联系" == page.input_value("#log-form textarea[name=note]")
    assert workspace.app.get_customer(UUID(customer)).first_response is None


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_a_phone_written_with_country_code_and_dashes_finds_the_customer(
    page_for: Any, workspace: RunningWorkspace, width_name: str
) -> None:
    phone = "13800138000" if width_name == "desktop" else "13900139000"
    customer, owner, _ = new_lead(workspace, phone=phone)
    page = page_for(owner, WIDTHS[width_name])
    page.goto(f"{workspace.url}/customers")

    page.fill("#search input[name=q]", f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}")
    page.click("#search button")
    page.wait_for_selector("#customers-total")

    rows = page.eval_on_selector_all(
        "#customers tr[data-customer]", "rows => rows.map(r => r.dataset.customer)"
    )
    assert [customer] == rows
    assert fits(page)
