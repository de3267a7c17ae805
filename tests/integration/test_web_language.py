"""The Chinese workspace speaks Chinese, and only the server speaks: no English word left in the
catalogue or on any rendered page (ids, numbers and a short list of proper nouns excepted), and no
text from the query string is ever shown as a system message."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventchain.web.i18n import LABELS, WORDS
from tests.web_support import RunningWorkspace, csrf_of, expected_customers, start_workspace

# Proper nouns and units a Chinese UI writes in Latin letters.
ALLOWED: frozenset[str] = frozenset({"VIP", "CTRE", "CSV", "English"})
# A word: Latin letters not touching digits, id punctuation or other letters (so `a-wang`,
# `contact-us`, `baidu/cpc`, `li@example.cn`, `#trial` and `wf-2026-01` are ids, not words;
# `{detail}` is a placeholder).
WORD = re.compile(r"(?<![\w\-./@:#=&?%+{])[A-Za-z]{2,}(?![\w\-./@:#=&?%+}])")
# A stored code shown as it is stored (active_share, web_form): English to the reader too.
CODE = re.compile(r"(?<![\w\-./@:#=&?%+{])[a-z]+(?:_[a-z0-9]+)+(?![\w\-./@:#=&?%+}])")
ATTACK = "请将货款转至账户6222"


def english_words(text: str) -> set[str]:
    return {w for w in WORD.findall(text) if w not in ALLOWED} | set(CODE.findall(text))


def visible_text(page: str) -> str:
    page = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<!--.*?-->", " ", page)
    text = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(text)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorkspace]:
    yield from start_workspace(tmp_path_factory.mktemp("web-language"))


def test_the_chinese_catalogue_has_no_english_word() -> None:
    found = {key: english_words(pair[0]) for key, pair in (WORDS | LABELS).items()}

    assert {} == {key: words for key, words in found.items() if words}


@pytest.mark.parametrize("agent_id", ["a-wang", "m-zhao", "d-qian"])
def test_no_rendered_page_of_the_chinese_workspace_shows_an_english_word(
    workspace: RunningWorkspace, agent_id: str
) -> None:
    client = workspace.sign_in(agent_id)
    customer = sorted(expected_customers(workspace, agent_id))[0]
    paths = ["/desk", "/customers", f"/customers/{customer}", "/customers/not-a-customer", "/nowhere"]
    paths += ["/board"] + (["/board?from=2026-03-01&to=2026-03-31"] if agent_id != "a-wang" else [])

    found = {}
    for path in paths:
        page = client.get(path, headers={"accept": "text/html"})
        assert page.status_code in (200, 403, 404), path
        words = english_words(visible_text(page.text))
        if words:
            found[path] = words

    assert {} == found


def test_a_refused_log_is_a_chinese_error_on_the_page(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("a-wang")
    customer = sorted(expected_customers(workspace, "a-wang"))[0]

    page = client.post(
        f"/customers/{customer}/log",
        data={"csrf": csrf_of(client, "/desk"), "kind": "call", "outcome": "", "note": "客户说下周再联系"},
        headers={"accept": "text/html"},
    )

    assert 400 == page.status_code
    assert 'class="error"' in page.text and "请选择沟通结果" in page.text
    assert "客户说下周再联系</textarea>" in page.text
    assert set() == english_words(visible_text(page.text))


@pytest.mark.parametrize("name", ["notice", "message", "error", "flash", "msg"])
def test_no_page_shows_text_from_the_query_string_as_a_message(
    workspace: RunningWorkspace, name: str
) -> None:
    rep, director = workspace.sign_in("a-wang"), workspace.sign_in("m-zhao")
    customer = sorted(expected_customers(workspace, "a-wang"))[0]
    visits = [(rep, p) for p in ("/desk", "/customers", f"/customers/{customer}", "/board", "/nowhere")]
    visits += [(director, "/board"), (workspace.client(), "/login")]

    shown = []
    for client, path in visits:
        page = client.get(path, params={name: ATTACK}, headers={"accept": "text/html"})
        if ATTACK in page.text:
            shown.append(path)

    assert [] == shown


def test_every_template_uses_the_catalogue_for_its_words() -> None:
    templates = Path(__file__).parents[2] / "eventchain" / "web" / "templates"
    found = {}
    for template in sorted(templates.glob("*.html")):
        text = re.sub(r"(?s)\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", template.read_text(encoding="utf-8"))
        words = english_words(visible_text(text))
        if words:
            found[template.name] = words

    assert {} == found


def test_a_refused_stage_move_says_in_chinese_which_evidence_to_record(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("a-wang")
    customer = sorted(expected_customers(workspace, "a-wang"))[0]
    inbound = client.get(f"/api/customers/{customer}").json()["timeline"][0]["touchpoint_id"]

    page = client.post(
        f"/customers/{customer}/stage",
        data={
            "csrf": csrf_of(client, "/desk"),
            "stage": "solution",
            "evidence": inbound,
            "reason": "客户要方案",
        },
        headers={"accept": "text/html"},
    )

    assert 400 == page.status_code
    assert "无法进入「方案」阶段" in page.text and "请先记录一次联系" in page.text
    assert set() == english_words(visible_text(page.text))
