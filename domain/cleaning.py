"""Cleaning bulk-import rows (SPEC §6; seed 004's 32,756-row incident). Pure functions.

A cell is cleaned (BOM, invisible and bidi characters stripped, NFKC: full-width digits
become ASCII) and then checked; a row is accepted only when every mapped cell passes.
Cleaning never guesses: formula residue, unparseable phones/emails, bad USCC checksums
and too-short company names reject the row with the column and the reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from domain.identities import InvalidIdentityError, clean_text, identity_key, normalise_identity

FIELDS: Final = ("name", "phone", "email", "company", "city", "industry", "uscc", "owner")
IDENTITY_FIELDS: Final = ("phone", "email", "uscc")
MIN_COMPANY_CHARS: Final = 3
MAX_CELL_CHARS: Final = 512
# Common Chinese (and English) headers → field. `--map HEADER=field` adds or overrides.
DEFAULT_HEADERS: Final[Mapping[str, str]] = {
    "姓名": "name",
    "客户姓名": "name",
    "联系人": "name",
    "name": "name",
    "手机": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "电话": "phone",
    "联系电话": "phone",
    "phone": "phone",
    "邮箱": "email",
    "电子邮箱": "email",
    "email": "email",
    "公司": "company",
    "公司名称": "company",
    "单位": "company",
    "company": "company",
    "城市": "city",
    "所在城市": "city",
    "city": "city",
    "行业": "industry",
    "所属行业": "industry",
    "industry": "industry",
    "统一社会信用代码": "uscc",
    "信用代码": "uscc",
    "uscc": "uscc",
    "负责人": "owner",
    "销售负责人": "owner",
    "owner": "owner",
}
_FORMULA: Final = re.compile(r"^\s*[=＝]|^\s*[+\-@]\s*[A-Za-z]+\s*\(|#(N/A|REF!|VALUE!|NAME\?|DIV/0!)")
_ABNORMAL: Final = re.compile("[\u200b-\u200f\u202a-\u202e\u2060\ufeff\ufff9-\ufffb]")


@dataclass(frozen=True, slots=True)
class Problem:
    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class CleanRow:
    values: dict[str, str]  # field → cleaned value (empty cells left out)
    identity_keys: tuple[str, ...]
    abnormal: bool  # cleaning removed invisible characters or changed the text (NFKC)


@dataclass(frozen=True, slots=True)
class RejectedRow:
    problems: list[Problem] = field(default_factory=list)


def header_mapping(headers: list[str], overrides: Mapping[str, str] | None = None) -> dict[int, str]:
    """Column index → field for the headers this file has (cleaned, case-insensitive)."""
    known = {clean_text(k).lower(): v for k, v in {**DEFAULT_HEADERS, **(overrides or {})}.items()}
    mapping: dict[int, str] = {}
    for index, header in enumerate(headers):
        target = known.get(clean_text(header).lower())
        if target in FIELDS and target not in mapping.values():
            mapping[index] = target
    return mapping


def clean_row(cells: Mapping[str, str | None], header_of: Mapping[str, str]) -> CleanRow | RejectedRow:
    """``cells``: field → raw text; ``header_of``: field → the file's column name (for reasons)."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    abnormal = False
    for name, raw in cells.items():
        if raw is None or not str(raw).strip():
            continue
        text = str(raw)
        if _FORMULA.search(text):
            problems.append(Problem(header_of.get(name, name), f"spreadsheet formula residue {text[:40]!r}"))
            continue
        cleaned = clean_text(text)
        abnormal = (
            abnormal or bool(_ABNORMAL.search(text)) or cleaned != unicodedata.normalize("NFC", text).strip()
        )
        if len(cleaned) > MAX_CELL_CHARS:
            problems.append(Problem(header_of.get(name, name), f"longer than {MAX_CELL_CHARS} characters"))
        elif cleaned:
            values[name] = cleaned
    keys: list[str] = []
    for name in IDENTITY_FIELDS:
        if name in values:
            try:
                keys.append(identity_key(name, normalise_identity(name, values[name])))
            except InvalidIdentityError as error:
                problems.append(Problem(header_of.get(name, name), f"invalid {name}: {error}"))
    company = values.get("company")
    if company is not None and len(company) < MIN_COMPANY_CHARS:
        problems.append(
            Problem(
                header_of.get("company", "company"),
                f"company name shorter than {MIN_COMPANY_CHARS} characters ({company!r})",
            )
        )
    if not problems and not keys:
        problems.append(Problem("(row)", "no phone, email or USCC: the row cannot be placed on a customer"))
    if problems:
        return RejectedRow(problems)
    return CleanRow(values, tuple(sorted(set(keys))), abnormal)
