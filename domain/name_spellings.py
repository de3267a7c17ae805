"""A person's name as it is spelled in Latin letters (issue 32: Wang Fang / 王芳), pure.

A name in Chinese characters spells as its Hanyu Pinyin without tones, surname first (王芳 →
``wangfang``) and given name first (``fangwang``), as business cards and e-mail signatures write
it; a surname read differently as a surname (曾 zeng, 单 shan, 解 xie …) spells its surname
reading. A name in Latin letters spells as its letters (``Wang Fang``, ``WANG Fang``,
``Fang Wang`` → ``wangfang`` / ``fangwang``); ü, v and yu after l or n are one letter. Two
names spelled alike are the same name only across scripts: 王芳 and 汪芳 spell alike and are
different names (docs/duplicates.md).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final

from pypinyin import Style, lazy_pinyin

# Surnames whose reading as a surname differs from the character's usual one (the common ones).
SURNAME_READINGS: Final = {
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "仇": "qiu",
    "区": "ou",
    "查": "zha",
    "朴": "piao",
    "覃": "qin",
    "盖": "ge",
    "翟": "zhai",
    "乐": "yue",
    "缪": "miao",
    "尉": "yu",
    "种": "chong",
    "繁": "po",
    "秘": "bi",
    "员": "yun",
    "召": "shao",
    "句": "gou",
    "适": "kuo",
}
COMPOUND_SURNAMES: Final = frozenset(
    {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟"}
    | {"公孙", "慕容", "令狐", "司徒", "夏侯", "长孙", "宇文"}
)
_HAN: Final = re.compile(r"[\u3400-\u9fff]")
_LATIN_NAME: Final = re.compile(r"[a-z]+(?:[ .'\-·]+[a-z]+)*")


def is_han(name: str) -> bool:
    return bool(_HAN.search(name))


@lru_cache(maxsize=65536)
def spellings(name: str) -> frozenset[str]:
    """The Latin spellings a name may be written as (empty: neither a Han nor a Latin name)."""
    text = "".join(name.split())
    if not text:
        return frozenset()
    if is_han(text):
        if not all(_HAN.match(c) for c in text):
            return frozenset()
        surname_length = 2 if text[:2] in COMPOUND_SURNAMES and len(text) > 2 else 1
        surname, given = text[:surname_length], text[surname_length:]
        surname_spelled = SURNAME_READINGS.get(surname) or "".join(lazy_pinyin(surname, style=Style.NORMAL))
        given_spelled = "".join(lazy_pinyin(given, style=Style.NORMAL))
        return frozenset(_fold(s) for s in (surname_spelled + given_spelled, given_spelled + surname_spelled))
    latin = unicodedata.normalize("NFKD", name.casefold())
    latin = "".join(c for c in latin if not unicodedata.combining(c)).strip()
    if not _LATIN_NAME.fullmatch(latin):
        return frozenset()
    words = re.split(r"[ .'\-·]+", latin)
    return frozenset({_fold("".join(words)), _fold("".join(reversed(words)))})


def _fold(letters: str) -> str:
    """ü, v and the yu of lyu/nyu as one letter u: Lü, Lv, Lyu and Lu spell alike."""
    return letters.replace("ü", "u").replace("v", "u").replace("lyu", "lu").replace("nyu", "nu")
