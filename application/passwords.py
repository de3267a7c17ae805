"""What a new password must be (issue 29): long enough, and not one of the passwords that
every guessing list starts with (the world's and China's most common, seed 001's shared
``123456`` account among them)."""

from __future__ import annotations

from typing import Final

MIN_PASSWORD_LENGTH: Final = 10
MAX_PASSWORD_LENGTH: Final = 256

# Lower-cased; a password is refused when it, lower-cased, is one of these, or is one
# character repeated, or a run of the keyboard's digits/letters.
COMMON_PASSWORDS: Final = frozenset(
    """
    123456 123456789 12345678 1234567890 12345 1234567 password password1 password123 111111 123123
    000000 abc123 qwerty qwerty123 qwertyuiop 1q2w3e4r 1q2w3e4r5t 1qaz2wsx 1qaz2wsx3edc zaq12wsx
    qazwsxedc asdfghjkl zxcvbnm iloveyou admin admin123 administrator welcome welcome1 letmein
    monkey dragon football baseball sunshine princess trustno1 passw0rd p@ssw0rd p@ssword 654321
    666666 888888 88888888 999999 987654321 112233 123321 520520 5201314 1314520 woaini woaini1314
    woaini520 wo5201314 aini1314 a123456 a123456789 aa123456 abc123456 abcd1234 qq123456 q1w2e3r4
    123qwe 123qweasd qweasdzxc 1234qwer asd123456 changeme changeme123 eventchain eventchain123
    sales123456 customer123 company123 huawei123 xiaomi123 baidu123 taobao123 china123 beijing123
    shanghai123 123456abc abcdefg abcdefgh abcdefghij 1234abcd 12qwaszx 147258369 159357 159753
    741852963
    """.split()  # noqa: SIM905  (a word list reads best as words)
)
KEYBOARD_RUNS: Final = (
    "1234567890",
    "0987654321",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "abcdefghijklmnopqrstuvwxyz",
)


def password_problem(password: str) -> str | None:
    """Why ``password`` is refused (``too_short``, ``too_long``, ``too_common``), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "too_short"
    if len(password) > MAX_PASSWORD_LENGTH:
        return "too_long"
    folded = password.lower()
    if (
        folded in COMMON_PASSWORDS
        or len(set(folded)) <= 2
        or any(folded in run * 2 for run in KEYBOARD_RUNS)  # runs that wrap around too
        or folded.rstrip("0123456789!@#.") in COMMON_PASSWORDS
    ):
        return "too_common"
    return None
