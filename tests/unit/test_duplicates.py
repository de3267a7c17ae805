"""Duplicate-customer candidates measured like a model (issue 32): the same person at the
same company is a candidate however the company is written; colleagues and namesakes are not."""

from __future__ import annotations

import pytest

from domain.duplicates import Profile, find_candidates
from tests.duplicate_evaluation import evaluation_set, measure

MIN_PRECISION = 0.99
MIN_RECALL = 0.98


def profile(customer_id: str, name: str, company: str) -> Profile:
    return Profile(customer_id, name, company, frozenset({f"phone:+86139{customer_id[-8:]:0>8}"}))


def pairs(*profiles: Profile) -> set[tuple[str, str]]:
    return {(c.a, c.b) for c in find_candidates(profiles)}


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("唐秀英", "苏州卓越精密机械有限公司"), ("唐秀英", "苏州市卓越精密机械有限公司")),
        (("蒋洋", "青岛恒通新材料"), ("蒋洋", "青岛恒通新材料有限公司")),
        (("李雷", "杭州云帆科技有限公司"), ("李 雷", "云帆科技（杭州）有限责任公司")),
        # a typo in the company, then in the name
        (("王秀英", "成都蓉新医疗器械有限公司"), ("王秀英", "成都蓉薪医疗器械有限公司")),
        (("王秀英", "成都蓉新医疗器械有限公司"), ("王秀瑛", "四川成都蓉新医疗器械")),
    ],
)
def test_the_same_buyer_written_another_way_is_a_candidate(
    one: tuple[str, str], other: tuple[str, str]
) -> None:
    assert {("c1", "c2")} == pairs(profile("c1", *one), profile("c2", *other))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        # colleagues; two-character names; a namesake elsewhere; a branch; two typos at once
        (("高娜", "苏州卓越精密机械有限公司"), ("冯娟", "苏州卓越精密机械有限公司")),
        (("王芳", "杭州云帆科技有限公司"), ("王方", "杭州云帆科技有限公司")),
        (("唐秀英", "苏州卓越精密机械有限公司"), ("唐秀英", "杭州卓越精密机械有限公司")),
        (("唐秀英", "苏州卓越精密机械有限公司"), ("唐秀英", "苏州卓越精密机械有限公司上海分公司")),
        (("唐秀英", "苏州卓越精密机械有限公司"), ("唐秀瑛", "苏州卓跃精密机械有限公司")),
    ],
)
def test_colleagues_namesakes_and_branches_are_not_candidates(
    one: tuple[str, str], other: tuple[str, str]
) -> None:
    assert set() == pairs(profile("c1", *one), profile("c2", *other))


def test_a_shared_strong_identity_stays_a_candidate_whatever_the_names() -> None:
    a = Profile("c1", "高娜", "苏州卓越精密机械有限公司", frozenset({"email:gao@zy.cn"}))
    b = Profile("c2", "冯娟", "成都蓉新医疗器械有限公司", frozenset({"email:gao@zy.cn"}))
    assert [("c1", "c2", "same email:gao@zy.cn")] == [(c.a, c.b, c.reason) for c in find_candidates([a, b])]


@pytest.mark.parametrize("seed", [32, 2026])
def test_candidates_reach_the_precision_and_recall_the_spec_asks_on_the_labelled_set(seed: int) -> None:
    evaluation = evaluation_set(companies=600, seed=seed)
    quality = measure(evaluation, find_candidates(evaluation.profiles))
    assert 600 == len(evaluation.true_pairs())
    assert quality.precision >= MIN_PRECISION, quality
    assert quality.recall >= MIN_RECALL, quality
