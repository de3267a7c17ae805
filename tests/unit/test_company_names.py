"""The company-name normaliser (issue 32): variants of one company share one key, distinct
companies and branches keep theirs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.company_names import company_key, parse_company
from tests.strategies import text

CITIES = ("苏州", "成都", "青岛", "杭州", "深圳")
PROVINCE_OF = {"苏州": "江苏", "成都": "四川", "青岛": "山东", "杭州": "浙江", "深圳": "广东"}
TRADE_CHARACTERS = "卓越精密机械恒通电子新材料帆智能科技蓉医疗器德信达盛鑫源泰和光明ABC123"
LEGAL_FORMS = ("有限公司", "有限责任公司", "股份有限公司", "集团", "集团有限公司", "")

trades = st.text(st.sampled_from(TRADE_CHARACTERS), min_size=2, max_size=8)


@st.composite
def written_as(draw: st.DrawFn, city: str, trade: str) -> str:
    """One way a person writes the company ``city`` + ``trade``."""
    form = draw(st.sampled_from(LEGAL_FORMS))
    if any(c.isascii() for c in trade) and draw(st.booleans()):
        trade = trade.translate({ord(c): ord(c) + 0xFEE0 for c in trade if c.isascii()})  # full-width
    region = draw(
        st.sampled_from(
            [
                f"{city}{trade}{form}",
                f"{city}市{trade}{form}",
                f"{PROVINCE_OF[city]}省{city}市{trade}{form}",
                f"{PROVINCE_OF[city]}{city}{trade}{form}",
                f"{trade}（{city}）{form or '有限公司'}",
                f"{trade}({city}市){form or '有限公司'}",
                f"{city} {trade} {form}",
            ]
        )
    )
    return region


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("苏州卓越精密机械有限公司", "苏州市卓越精密机械有限公司"),
        ("青岛恒通新材料", "青岛恒通新材料有限公司"),
        ("卓越精密机械（苏州）有限公司", "苏州卓越精密机械有限责任公司"),
        ("江苏省苏州市吴中区卓越精密机械股份有限公司", "苏州 卓越精密机械"),
        ("ＡＢＣ科技有限公司", "abc科技有限公司"),
        ("北京新能源集团", "北京市新能源有限公司"),
    ],
)
def test_the_ways_one_company_is_written_share_one_key(one: str, other: str) -> None:
    assert company_key(one) == company_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("苏州卓越精密机械有限公司", "苏州卓越精密机械有限公司上海分公司"),
        ("苏州卓越精密机械有限公司上海分公司", "苏州卓越精密机械有限公司北京分公司"),
        ("苏州卓越精密机械有限公司", "杭州卓越精密机械有限公司"),
        ("杭州云帆科技有限公司", "杭州市云海科技有限公司"),
        ("华联超市有限公司", "华联有限公司"),
        ("卓越分公司", "卓越有限公司"),
    ],
)
def test_different_companies_and_branches_keep_apart(one: str, other: str) -> None:
    assert company_key(one) != company_key(other)


def test_a_name_with_no_trade_name_has_no_key() -> None:
    assert "" == company_key(None) == company_key("  ") == company_key("（）")
    assert "北京市有限公司" == company_key("北京市")  # a place alone is the name, not dropped


# The characters the normaliser acts on, so arbitrary text hits its corners more often.
name_parts = st.text(
    st.sampled_from(list("苏州市江苏省有限责任股份集团公司分区县()（）【】 ＡA¨中国上海1-·超合作")),
    max_size=30,
)


@given(st.one_of(text, name_parts))
def test_normalising_is_idempotent_on_any_text(name: str) -> None:
    assert company_key(name) == company_key(company_key(name))


@given(st.sampled_from(CITIES), trades, st.data())
def test_every_variant_of_a_company_maps_to_its_canonical_name(
    city: str, trade: str, data: st.DataObject
) -> None:
    variant = data.draw(written_as(city, trade))
    expected = f"{city}{trade.casefold()}有限公司"
    assert expected == company_key(variant)
    assert company_key(variant) == company_key(company_key(variant))


@given(st.sampled_from(CITIES), trades, trades, st.data())
def test_distinct_trade_names_never_share_a_key(
    city: str, trade: str, other_trade: str, data: st.DataObject
) -> None:
    if trade.casefold() == other_trade.casefold():
        return
    assert company_key(data.draw(written_as(city, trade))) != company_key(
        data.draw(written_as(city, other_trade))
    )


@given(st.sampled_from(CITIES), trades, st.sampled_from(CITIES), st.sampled_from(CITIES))
def test_a_branch_is_apart_from_its_parent_and_from_other_branches(
    city: str, trade: str, branch: str, other_branch: str
) -> None:
    parent = f"{city}{trade}有限公司"
    keys = {company_key(parent), company_key(f"{parent}{branch}分公司")}
    assert 2 == len(keys)
    if branch != other_branch:
        assert company_key(f"{parent}{branch}市分公司") != company_key(f"{parent}{other_branch}分公司")
    assert branch == parse_company(f"{parent}{branch}市分公司").branch
