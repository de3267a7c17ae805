"""What a new password must be (issue 29), and the clear message each refusal gets."""

from __future__ import annotations

import pytest

from application.accounts import PasswordError, check_new_password
from application.passwords import MIN_PASSWORD_LENGTH, password_problem
from eventchain.web.i18n import translator
from eventchain.web.sign_in import password_message


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "too_short"),
        ("x" * 257, "too_long"),
        ("1234567890", "too_common"),
        ("woaini1314", "too_common"),
        ("Qwertyuiop", "too_common"),
        ("aaaaaaaaaaaa", "too_common"),
        ("password123!", "too_common"),
        ("1qaz2wsx3edc", "too_common"),
        ("海风吹过西湖的第三个早晨", None),
        ("correct horse battery", None),
    ],
)
def test_a_password_is_refused_when_short_or_common(password: str, problem: str | None) -> None:
    assert problem == password_problem(password)


def test_every_refusal_has_a_clear_message_in_chinese_and_english() -> None:
    cases = [("short", "short"), ("123456789012", "123456789012"), ("a-long-passphrase", "different")]
    messages = []
    for password, confirm in cases:
        with pytest.raises(PasswordError) as refused:
            check_new_password(password, confirm)
        messages.append(password_message(translator("zh"), refused.value))
        assert password_message(translator("en"), refused.value)

    assert [
        f"密码: 至少需要 {MIN_PASSWORD_LENGTH} 个字符",
        "密码: 太常见，容易被猜中（如 123456、生日、键盘上连着的键），请换一个",
        "确认密码: 两次输入不一致",
    ] == messages
