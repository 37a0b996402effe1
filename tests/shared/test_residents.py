"""What the sign-up form accepts as a phone number or an e-mail address (docs/signup.md)."""

from __future__ import annotations

import pytest

from vigie.residents import channel_url, code_matches, hash_code, normalise_email, normalise_phone


@pytest.mark.parametrize(
    "raw",
    [
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "+33 6 12 34 56 78",
        "0033612345678",
        "(+33) 6 12 34 56 78",
        "+33612345678",
    ],
)
def test_french_mobile_numbers_in_every_usual_spelling(raw: str) -> None:
    assert normalise_phone(raw) == "+33612345678"


@pytest.mark.parametrize(
    "raw",
    [
        "+44 7911 123456",
        "+1 202 555 0100",
        "01 23 45 67 89",
        "08 00 12 34 56",
        "06 12 34 56 7",
        "06 12 34 56 789",
        "+33 06 12 34 56 78",
        "<script>0612345678</script>",
        "06\x0012345678",
        "",
        "0" * 41,
    ],
)
def test_other_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_phone(raw)


def test_emails_are_lower_cased_and_checked() -> None:
    assert (
        normalise_email(" Marie.Dupont+alertes@Mairie-Thourotte.fr ")
        == "marie.dupont+alertes@mairie-thourotte.fr"
    )
    for bad in ("marie", "marie@", "@x.fr", "a b@x.fr", "a@x", "a&b@x.fr", "a@x.fr?to=b@y.fr", "é@x.fr"):
        with pytest.raises(ValueError):
            normalise_email(bad)


def test_codes_are_stored_keyed_by_their_request() -> None:
    assert hash_code("req-a", "123456") != hash_code("req-b", "123456")
    assert code_matches("req-a", "123456", hash_code("req-a", "123456"))
    assert not code_matches("req-a", "123457", hash_code("req-a", "123456"))
    assert not code_matches("req-a", "123456", None)


def test_the_gateway_url_gets_the_address_quoted() -> None:
    assert channel_url("smseagle://t@h/{number}", "sms", "+33612345678") == "smseagle://t@h/%2B33612345678"
    assert channel_url("mailto://h?to={email}", "email", "a+b@x.fr") == "mailto://h?to=a%2Bb@x.fr"
    with pytest.raises(ValueError):
        channel_url("smseagle://t@h/", "sms", "+33612345678")
