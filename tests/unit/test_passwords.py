"""The password policy: each refusal has its own code, and the passwords people choose well pass."""

import pytest

from eneo.auth.passwords import check_password, common_passwords
from eneo.core.errors import ValidationFailed


def refusal(password: str, email: str | None = "anna.svensson@kommun.se", field: str = "password") -> str | None:
    try:
        check_password(password, email=email, field=field)
    except ValidationFailed as exc:
        assert exc.status == 422 and exc.details[0]["field"] == field and exc.details[0]["type"] == exc.code
        return exc.code
    return None


@pytest.mark.parametrize(("password", "code"), [
    (" " * 10, "password_too_short"),  # the probe's three: accepted before
    ("1234567890", "password_too_short"),
    ("password12", "password_too_short"),
    ("elva tecken", "password_too_short"),  # 11
    ("x" * 257, "password_too_long"),
    ("tab\there and more", "password_not_printable"),
    ("new\nline passphrase", "password_not_printable"),
    (" " * 12, "password_repeated_character"),
    ("aaaaaaaaaaaaaaaaaaaa", "password_repeated_character"),
    ("123456789123", "password_too_common"),
    ("QWERTY123456", "password_too_common"),  # case does not help
    ("password 1234", "password_too_common"),  # nor spaces
    ("1q2w3e4r5t6y", "password_too_common"),
    ("anna.svensson2024", "password_contains_email"),
    ("Svensson!Svensson!", "password_contains_email"),
    ("anna.svensson@kommun.se", "password_contains_email"),
])
def test_weak_passwords_are_refused_with_their_own_code(password: str, code: str) -> None:
    assert refusal(password) == code


@pytest.mark.parametrize("password", [
    "correct horse battery",  # the integration tests' password
    "e2e passphrase 42",  # the e2e tests' users
    "e2e admin passphrase 0001",  # the local stack's e2e admin (admin@e2e.example.org)
    "bench passphrase 0001",
    "a brand new passphrase",
    "remembered now",
    "lösenord på svenska",  # any printable Unicode
    "密码是很长的一句话吧",  # 10 characters is too few even in CJK ...
    "🔒🔑 emoji are fine too 🙂",
    "x" * 11 + "y",
    "z" * 200 + "!" * 56,  # 256, the longest
])
def test_good_passwords_pass(password: str) -> None:
    expected = "password_too_short" if len(password) < 12 else None
    assert refusal(password, email="admin@e2e.example.org") == expected


def test_an_e_mail_name_inside_a_long_enough_password_is_allowed() -> None:
    assert refusal("anna says: my winter passphrase") is None  # 'anna' out, 27 characters remain
    assert refusal("svensson i sommar", email="anna.svensson@kommun.se") == "password_contains_email"
    assert refusal("anna.svensson2024", email=None) is None  # no e-mail known: nothing to compare


def test_the_list_is_large_and_ships_with_the_package() -> None:
    assert len(common_passwords()) >= 10_000
    assert {"password", "123456", "qwerty"} <= common_passwords()


def test_the_field_is_named_in_the_error() -> None:
    assert refusal("short", field="new_password") == "password_too_short"
