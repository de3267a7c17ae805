"""A labelled evaluation set for duplicate-customer candidates (issue 32, docs/duplicates.md).

Generated, not sampled: every profile belongs to a known person, so every pair's label is
known. Per company, one buyer entered twice, each time with another phone and the company
written another way (市 or not, 有限公司 / 有限责任公司 / nothing, the region in
parentheses, spaces, full-width), sometimes with a one-character typo in the company or the
person's name; colleagues at the same company (other names); namesakes at other companies
(the same name, another trade name, or the same trade name in another city). In about one
pair in eight the second entry writes the buyer's name in Latin letters (Wang Fang, FANG Wang,
Zeng Wei for 曾伟), from the hand-written table below, not from the matcher's pinyin library.

Labels: two profiles are duplicates when they are the same person. A colleague whose name
is one character from another's at the same company would be indistinguishable from a typo:
the generator does not make such colleagues, and the documentation says so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import combinations

from rapidfuzz.distance import Levenshtein

from domain.duplicates import Candidate, Profile

CITIES = ("苏州", "成都", "青岛", "杭州", "深圳", "武汉", "南京", "西安", "厦门", "长沙")
PROVINCE_OF = {
    "苏州": "江苏",
    "成都": "四川",
    "青岛": "山东",
    "杭州": "浙江",
    "深圳": "广东",
    "武汉": "湖北",
    "南京": "江苏",
    "西安": "陕西",
    "厦门": "福建",
    "长沙": "湖南",
}
BRAND_CHARACTERS = (
    "卓越恒通蓉新云帆德信达盛鑫源泰和光明华瑞博远嘉禾立方"
    "中科天成永安宏图金星百川汇丰润宝隆昌鼎力佳美创联众益康正万象启航晶"
)
INDUSTRIES = (
    "精密机械",
    "电子",
    "新材料",
    "医疗器械",
    "智能科技",
    "生物科技",
    "环保设备",
    "物流",
    "食品",
    "建材",
)
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华文辉建红玉萍飞鹏宇浩然欣怡子轩梓涵雨晨"
LEGAL_FORMS = ("有限公司", "有限责任公司", "股份有限公司", "")
# How the names above are written on a business card (surnames read as surnames: 曾 Zeng).
CARD_SPELLINGS = (
    "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng "
    "liang xie song tang xu han feng deng cao peng zeng xiao tian dong yuan pan jiang cai yu du "
    "ye cheng su wei lyu ding ren shen "
    "wei fang na xiu ying min jing li qiang lei jun yang yong yan jie juan tao ming chao lan xia "
    "ping gang gui hua wen hui jian hong yu ping fei peng yu hao ran xin yi zi xuan zi han yu chen"
)
PINYIN = dict(zip(SURNAMES + GIVEN, CARD_SPELLINGS.split(" "), strict=True))


def company_variants(city: str, trade: str, *, placeless: bool = True) -> list[str]:
    """The ways people write the company ``city`` + ``trade`` (issue 32's list); with
    ``placeless``, also without any region."""
    wide = trade.translate({ord(c): ord(c) + 0xFEE0 for c in trade if c.isascii() and c.isalnum()})
    province = PROVINCE_OF.get(city, "")
    written: list[str] = []
    for form in LEGAL_FORMS:
        written += [
            f"{city}{trade}{form}",
            f"{city}市{trade}{form}",
            f"{city} {trade} {form}".strip(),
            f"{city}市{wide}{form}",
        ]
        if placeless:
            written.append(f"{trade}{form or '有限公司'}")
        if province:
            written += [f"{province}省{city}市{trade}{form}", f"{province}{city}{trade}{form}"]
    written += [f"{trade}（{city}）有限公司", f"{trade}({city}市)有限公司", f"{trade} ({city}) 有限责任公司"]
    return written


@dataclass(frozen=True, slots=True)
class EvaluationSet:
    profiles: list[Profile]
    person_of: dict[str, int]  # customer id → the person it is

    def true_pairs(self) -> set[frozenset[str]]:
        by_person: dict[int, list[str]] = {}
        for customer_id, person in self.person_of.items():
            by_person.setdefault(person, []).append(customer_id)
        return {frozenset(pair) for ids in by_person.values() for pair in combinations(ids, 2)}


@dataclass(frozen=True, slots=True)
class Quality:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        relevant = self.true_positives + self.false_negatives
        return self.true_positives / relevant if relevant else 1.0


def measure(evaluation: EvaluationSet, candidates: list[Candidate]) -> Quality:
    found = {frozenset((c.a, c.b)) for c in candidates}
    truth = evaluation.true_pairs()
    return Quality(len(found & truth), len(found - truth), len(truth - found))


def evaluation_set(companies: int = 150, seed: int = 32) -> EvaluationSet:
    """``companies`` companies, each with one buyer entered twice (``companies`` true pairs),
    about one colleague per company and a namesake for every third buyer."""
    rng = random.Random(seed)
    builder = _Builder(rng)
    places = _distinct_companies(rng, companies * 2)
    for index, (city, trade) in enumerate(places[:companies]):
        buyer = builder.name(avoid=set())
        at_company = {buyer}
        namesake = None
        if rng.random() < 0.35:
            namesake = rng.choice([places[companies + index], (_other_city(rng, city), trade)])
        # The buyer at 卓越精密机械有限公司 and a namesake at 杭州卓越精密机械 cannot be told
        # apart by anyone: where a namesake has the buyer's trade name, the buyer gives a region.
        placeless = namesake is None or namesake[1] != trade
        first, second = rng.sample(company_variants(city, trade, placeless=placeless), 2)
        person = builder.person()
        builder.add(person, buyer, first)
        typo = rng.random()
        if typo < 0.15:
            second = rng.choice(
                company_variants(city, _typo(rng, trade, BRAND_CHARACTERS), placeless=placeless)
            )
        elif typo < 0.3 and len(buyer) == 3:
            buyer = buyer[:2] + rng.choice(GIVEN.replace(buyer[2], ""))
            at_company.add(buyer)
        written = [buyer, " ".join(buyer), f"{buyer[0]} {buyer[1:]}"]
        if buyer in at_company and len(at_company) == 1 and rng.random() < 0.125:
            written = [latin(buyer, rng)]  # no typo in the name: it is spelled, not misspelled
        builder.add(person, rng.choice(written), second)
        for _ in range(rng.choice((0, 1, 1, 2))):
            colleague = builder.name(avoid=at_company, avoid_spelled=spelled(buyer))
            at_company.add(colleague)
            builder.add(builder.person(), colleague, rng.choice(company_variants(city, trade)))
        if namesake is not None:
            other_city, other_trade = namesake
            builder.add(
                builder.person(),
                buyer,
                rng.choice(company_variants(other_city, other_trade, placeless=other_trade != trade)),
            )
    return EvaluationSet(builder.profiles, builder.person_of)


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._people = 0
        self.profiles: list[Profile] = []
        self.person_of: dict[str, int] = {}

    def person(self) -> int:
        self._people += 1
        return self._people

    def name(self, avoid: set[str], avoid_spelled: str = "") -> str:
        """A name not a typo of any in ``avoid``, nor spelled like ``avoid_spelled`` (王芳 and
        汪芳 written as Wang Fang are one name to anyone reading it)."""
        while True:
            given = "".join(self._rng.choices(GIVEN, k=self._rng.choice((1, 2, 2))))
            name = self._rng.choice(SURNAMES) + given
            if all(_distance(name, other) > 1 for other in avoid) and spelled(name) != avoid_spelled:
                return name

    def add(self, person: int, name: str, company: str) -> None:
        customer_id = f"c{len(self.profiles):05d}"
        phone = f"phone:+86139{len(self.profiles):08d}"
        self.profiles.append(Profile(customer_id, name, company, frozenset({phone})))
        self.person_of[customer_id] = person


def spelled(name: str) -> str:
    return "".join(PINYIN[c] for c in name)


def latin(name: str, rng: random.Random) -> str:
    """``name`` as a card prints it: Wang Fang, Fang Wang or WANG Fang."""
    surname, given = PINYIN[name[0]].title(), "".join(PINYIN[c] for c in name[1:]).title()
    return rng.choice((f"{surname} {given}", f"{given} {surname}", f"{surname.upper()} {given}"))


def _distinct_companies(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Trade names at least two edits apart within a city: a one-character typo never
    writes another company of the same city."""
    seen: dict[str, tuple[str, str]] = {}
    while len(seen) < count:
        city = rng.choice(CITIES)
        trade = "".join(rng.sample(BRAND_CHARACTERS, 2)) + rng.choice(INDUSTRIES)
        if trade not in seen and all(
            _distance(trade, known) > 1 for known_city, known in seen.values() if known_city == city
        ):
            seen[trade] = (city, trade)
    return list(seen.values())


def _typo(rng: random.Random, text: str, alphabet: str) -> str:
    position = rng.randrange(len(text))
    return text[:position] + rng.choice(alphabet.replace(text[position], "")) + text[position + 1 :]


def _other_city(rng: random.Random, city: str) -> str:
    return rng.choice([c for c in CITIES if c != city])


def _distance(a: str, b: str) -> int:
    return int(Levenshtein.distance(a, b))
