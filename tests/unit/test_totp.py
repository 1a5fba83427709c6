"""The second factor's arithmetic (eneo.auth.totp): the window, replays, recovery code forms."""

import pyotp

from eneo.auth import totp

NOW = 1_800_000_015.0  # inside step 60_000_000


def test_a_code_is_good_for_its_step_and_one_either_side_and_only_after_the_last_used() -> None:
    secret = totp.new_secret()
    app = pyotp.TOTP(secret)
    step = int(NOW // 30)
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, app.at(NOW + 30 * offset), after=None, now=NOW) == step + offset
    assert totp.matching_step(secret, app.at(NOW + 60), after=None, now=NOW) is None
    assert totp.matching_step(secret, app.at(NOW - 60), after=None, now=NOW) is None
    assert totp.matching_step(secret, app.at(NOW), after=step, now=NOW) is None  # used already
    assert totp.matching_step(secret, app.at(NOW + 30), after=step, now=NOW) == step + 1
    assert totp.matching_step(secret, "12345", after=None, now=NOW) is None
    assert totp.matching_step(secret, " " + app.at(NOW)[:3] + " " + app.at(NOW)[3:], after=None, now=NOW) == step


def test_recovery_codes() -> None:
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == totp.RECOVERY_CODES
    assert all(len(c) == 14 and not set(c.replace("-", "")) - set("abcdefghjkmnpqrstuvwxyz23456789") for c in codes)
    assert totp.normalise_recovery_code(" ABCD-efgh jkmn ") == "abcdefghjkmn"
    assert totp.is_code("123 456") and not totp.is_code(codes[0])


def test_the_uri_is_what_authenticator_apps_read() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "anna@kommun.se")
    assert uri.startswith("otpauth://totp/Eneo:anna%40kommun.se?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert "issuer=Eneo" in uri
