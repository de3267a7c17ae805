"""Chinese company names, normalised the way people vary them (SPEC §6, issue 32).

One company is written 苏州卓越精密机械有限公司, 苏州市卓越精密机械有限责任公司,
卓越精密机械（苏州）有限公司 and 苏州 卓越精密机械: the legal form, the administrative
unit of its region (省/市/区/县), where the region stands (before the trade name or in
parentheses), spaces and full-width characters all vary. ``parse_company`` takes these
apart into a region, a trade name and a branch; ``company_key`` writes them back as one
canonical name, so variants share one key and the key of a key is itself.

A branch (上海分公司) is a different party from its parent and from the other branches:
it keeps its own part of the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from domain.identities import clean_text

# Legal forms, longest first: each is stripped from the end, repeatedly
# (北京新能源集团股份有限公司 → 北京新能源).
LEGAL_FORMS: Final[tuple[str, ...]] = (
    "集团股份有限公司",
    "集团有限责任公司",
    "集团有限公司",
    "股份有限公司",
    "有限责任公司",
    "股份合作公司",
    "有限公司",
    "股份公司",
    "集团公司",
    "责任公司",
    "集团",
    "公司",
    "股份",  # 万科股份: and a trade name ending in it would end its own key in 股份有限公司
)
BRANCH: Final = "分公司"
CANONICAL_FORM: Final = "有限公司"

PROVINCES: Final[frozenset[str]] = frozenset(
    [
        "北京",
        "天津",
        "上海",
        "重庆",
        "河北",
        "山西",
        "辽宁",
        "吉林",
        "黑龙江",
        "江苏",
        "浙江",
        "安徽",
        "福建",
        "江西",
        "山东",
        "河南",
        "湖北",
        "湖南",
        "广东",
        "海南",
        "四川",
        "贵州",
        "云南",
        "陕西",
        "甘肃",
        "青海",
        "台湾",
        "内蒙古",
        "广西",
        "西藏",
        "宁夏",
        "新疆",
        "香港",
        "澳门",
    ]
)
# Prefecture-level cities and the county-level ones that companies carry in their names.
# A gazetteer, not a rule: "XX市" cannot be told from a trade name ending in 市 (超市).
CITIES: Final[frozenset[str]] = frozenset(
    [
        "北京",
        "天津",
        "上海",
        "重庆",
        "石家庄",
        "唐山",
        "保定",
        "廊坊",
        "太原",
        "大同",
        "沈阳",
        "大连",
        "鞍山",
        "长春",
        "吉林",
        "哈尔滨",
        "大庆",
        "南京",
        "无锡",
        "徐州",
        "常州",
        "苏州",
        "南通",
        "连云港",
        "淮安",
        "盐城",
        "扬州",
        "镇江",
        "泰州",
        "宿迁",
        "昆山",
        "江阴",
        "常熟",
        "张家港",
        "杭州",
        "宁波",
        "温州",
        "嘉兴",
        "湖州",
        "绍兴",
        "金华",
        "衢州",
        "舟山",
        "台州",
        "丽水",
        "义乌",
        "慈溪",
        "余姚",
        "合肥",
        "芜湖",
        "蚌埠",
        "福州",
        "厦门",
        "泉州",
        "漳州",
        "莆田",
        "南昌",
        "赣州",
        "九江",
        "济南",
        "青岛",
        "淄博",
        "烟台",
        "潍坊",
        "威海",
        "临沂",
        "济宁",
        "郑州",
        "洛阳",
        "开封",
        "南阳",
        "武汉",
        "宜昌",
        "襄阳",
        "长沙",
        "株洲",
        "湘潭",
        "岳阳",
        "广州",
        "深圳",
        "珠海",
        "汕头",
        "佛山",
        "东莞",
        "中山",
        "江门",
        "惠州",
        "湛江",
        "肇庆",
        "南宁",
        "柳州",
        "桂林",
        "海口",
        "三亚",
        "成都",
        "绵阳",
        "德阳",
        "宜宾",
        "南充",
        "贵阳",
        "遵义",
        "昆明",
        "西安",
        "咸阳",
        "宝鸡",
        "兰州",
        "西宁",
        "银川",
        "乌鲁木齐",
        "拉萨",
        "呼和浩特",
        "包头",
        "鄂尔多斯",
    ]
)
PLACE_UNITS: Final[tuple[str, ...]] = ("特别行政区", "自治区", "省", "市")
NATIONAL: Final[frozenset[str]] = frozenset({"中国", "中华"})
# Characters that never tell two companies apart: spaces, punctuation people add or drop.
_NOISE = re.compile(r"[\s·•・.,，。、'\"“”‘’\-_/&＆]+")
_PARENTHESISED = re.compile(r"[(（【\[]([^()（）【】\[\]]*)[)）】\]]")
_DISTRICT = re.compile(r"^(.{2,3}?)[区县]")


@dataclass(frozen=True, slots=True)
class CompanyName:
    region: str  # a city, else a province, without its unit; "" when the name carries none
    trade: str  # the trade name with its industry words (卓越精密机械)
    branch: str  # the branch's place or name (上海), "" for the company itself

    @property
    def key(self) -> str:
        """The canonical name: region + trade name + 有限公司 (+ branch 分公司)."""
        if not self.trade:
            return ""
        parent = f"{self.region}{self.trade}{CANONICAL_FORM}"
        return f"{parent}{self.branch}{BRANCH}" if self.branch else parent

    @property
    def block(self) -> str:
        """The key without the region: what variants that drop the region still share."""
        return f"{self.trade}/{self.branch}" if self.trade else ""

    def same_place(self, other: CompanyName) -> bool:
        """Regions agree, or one of the two names does not say."""
        return not self.region or not other.region or self.region == other.region


def company_key(name: str | None) -> str:
    """The canonical key of a company name; "" when nothing names a company."""
    return parse_company(name).key


def parse_company(name: str | None) -> CompanyName:
    text = _clean(name or "")
    bracketed_region = ""
    for content in _PARENTHESISED.findall(text):
        place = _place(content)
        if place and not bracketed_region:
            bracketed_region = place
    text = _clean(re.sub(r"[()（）【】\[\]]", "", _PARENTHESISED.sub("", text)))
    branch = ""
    if text.endswith(BRANCH) and len(text) > len(BRANCH):
        text, branch = _split_branch(text[: -len(BRANCH)])
    region, trade = _split_region(_strip_legal_forms(text))
    return CompanyName(region or bracketed_region, trade, branch)


def _clean(text: str) -> str:
    # NFKC, case folding and dropping spaces each can make a new composable pair
    # ("A¨" → "A ̈" → "Ä"): repeat until nothing changes, so a key's key is itself.
    for _ in range(4):
        cleaned = _NOISE.sub("", clean_text(text).casefold())
        if cleaned == text:
            break
        text = cleaned
    return text


def _strip_legal_forms(text: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for form in LEGAL_FORMS:
            if text.endswith(form) and len(text) > len(form):
                text = text[: -len(form)]
                stripped = True
                break
    return text


def _split_branch(text: str) -> tuple[str, str]:
    """苏州卓越精密机械有限公司上海 → (苏州卓越精密机械有限公司, 上海); without a legal
    form, a trailing place is the branch (苏州卓越上海 → 苏州卓越, 上海)."""
    ends = [text.rfind(form) + len(form) for form in LEGAL_FORMS if form.endswith("公司") and form in text]
    if ends:
        end = max(ends)
        return text[:end], _place(text[end:]) or text[end:]
    for length in range(min(len(text) - 1, 6), 1, -1):
        place = _place(text[-length:])
        if place:
            return text[:-length], place
    return f"{text}分", ""  # no parent to tell apart: 卓越分公司 stays 卓越分, not 卓越


def _split_region(text: str) -> tuple[str, str]:
    """Leading province, city and districts → (the most specific of them, the rest)."""
    region = ""
    province, rest = _leading(text, PROVINCES)
    if province:
        region, text = province, rest
    city, rest = _leading(text, CITIES)
    if city:
        region, text = city, rest
        while (district := _DISTRICT.match(text)) and len(text) > district.end():
            text = text[district.end() :]
    if not text:  # the whole name was a place (北京市): that is the trade name
        return "", region
    return region, text


def _leading(text: str, places: frozenset[str]) -> tuple[str, str]:
    for length in (4, 3, 2):
        head = text[:length]
        if head in places:
            rest = text[length:]
            while unit := next((u for u in PLACE_UNITS if rest.startswith(u)), ""):
                rest = rest[len(unit) :]
            if rest:
                return head, rest
    return "", text


def _place(text: str) -> str:
    """A bare place name (苏州, 苏州市, 江苏省) without its unit, else ""."""
    for unit in PLACE_UNITS:
        if text.endswith(unit) and len(text) > len(unit):
            text = text[: -len(unit)]
            break
    if text in CITIES or text in PROVINCES or text in NATIONAL:
        return "" if text in NATIONAL else text
    return ""
