"""Personal data found, masked and restored (eneo.personal_data.masking), on Swedish examples.

The identity numbers are Skatteverket's and others' published test numbers, not real people's.
"""

import random

import pytest

from eneo.answers.protection import needed
from eneo.assistants.models import PersonalData
from eneo.llm import ChatMessage, ChatRequest
from eneo.personal_data.masking import Masking, contains, find, luhn_ok, mask_request, mask_texts


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start:f.end]) for f in find(text)]


@pytest.mark.parametrize("number", [
    "811218-9876",          # 10 digits with a hyphen
    "8112189876",           # without a separator
    "19811218-9876",        # 12 digits with a hyphen
    "198112189876",         # 12 digits without
    "121212+1212",          # `+`: 100 years or older
    "701063-2391",          # samordningsnummer: day 63 = the 3rd + 60
    "20000229-1235",        # 29 February of a leap year
])
def test_valid_identity_numbers_are_found(number: str) -> None:
    assert kinds(f"Mitt personnummer är {number}, tack.") == [("personnummer", number)]


@pytest.mark.parametrize("text", [
    "Personnummer 811218-9875 (fel kontrollsiffra)",      # checksum off by one
    "900101-1234 är påhittat",                             # fails the Luhn check
    "19010229-1234",                                       # 29 February 1901: no such day (checksum is fine)
    "010229-1234",                                         # no century makes 1, 1901 or 2001 a leap year
    "881301-1233 har månad 13",                            # month 13
    "Organisationsnummer 556677-8899",                     # Luhn-valid, but month 67: an organisation
    "Ordernummer 1234567890 skickas i dag",                # an order number
    "Fakturanummer 20231105123456",                        # 14 digits
    "ISBN 978-91-29-68839-1 och ISBN 91-29-68839-1",       # ISBNs
    "Beloppet är 1 250 000 kr, eller 12 345,50 kr",        # amounts
    "Postadress: Box 123, 211 45 Malmö, SE-114 55 Stockholm",  # postcodes
    "Mötet är 2024-03-15 kl. 08.30, rum 0312",             # a date, a time, a room
    "Bankgiro 5050-1055, plusgiro 90 01 22-3",             # giro numbers
    "Version 1.8507099805 och sida 12",                    # digits after a decimal point
])
def test_false_positives_are_left_alone(text: str) -> None:
    assert find(text) == []


@pytest.mark.parametrize("number", [
    "070-123 45 67", "0701234567", "070 123 45 67", "073-1234567",
    "+46 70 123 45 67", "+46701234567", "0046 70 123 45 67", "+46 (0)70-123 45 67",
    "08-123 456 78", "08-12 34 56", "08 123 456 78", "031-12 34 56", "031 123 45 67", "0980-123 45",
    "+46 8 123 456 78", "046-22 22 22",
])
def test_swedish_phone_numbers_are_found(number: str) -> None:
    assert kinds(f"Ring mig på {number} efter lunch.") == [("phone", number)]


@pytest.mark.parametrize("address", [
    "anna.svensson@malmo.se", "Per-Olof.Ek+fritid@kommun.example.org", "åsa.öberg@socialtjänsten.se",
])
def test_email_addresses_are_found(address: str) -> None:
    assert kinds(f"Skriv till {address}.") == [("email", address)]


def test_a_realistic_case_note() -> None:
    text = ("Ärende: Anna Svensson (811218-9876) ringde från 070-123 45 67 om ansökan om försörjningsstöd. "
            "Hon nås även på anna.svensson@example.se. Handläggare: 08-508 000 00. Beslut 2024-03-15, "
            "belopp 4 250 kr, postnummer 118 21.")
    assert [k for k, _ in kinds(text)] == ["personnummer", "phone", "email", "phone"]


def test_luhn() -> None:
    assert luhn_ok("8112189876") and not luhn_ok("8112189875")


def test_masking_is_consistent_and_restores() -> None:
    masking = Masking()
    first = masking.mask("Anna 811218-9876 och Bo 701063-2391 skriver från anna@example.se")
    second = masking.mask("Samma Anna, 19811218-9876, och ANNA@example.se igen")
    assert first == "Anna [PERSONNUMMER_1] och Bo [PERSONNUMMER_2] skriver från [EMAIL_1]"
    assert second == "Samma Anna, [PERSONNUMMER_1], och [EMAIL_1] igen"  # another spelling of the same value
    assert masking.counts() == {"personnummer": 2, "email": 1}
    assert masking.restore("Svar till [EMAIL_1] om [PERSONNUMMER_2]; [EMAIL_9] och [1] lämnas") == (
        "Svar till anna@example.se om 701063-2391; [EMAIL_9] och [1] lämnas")


def test_mask_request_masks_system_history_and_question_and_adds_the_note() -> None:
    request = ChatRequest(model="m", system="Källor:\n[1] Ärende: kontakt 08-123 456 78", messages=[
        ChatMessage("user", "Vad gäller för 811218-9876?"), ChatMessage("assistant", "Ring 08-123 456 78."),
        ChatMessage("user", "Och för anna@example.se?")], max_tokens=50)
    masking = Masking()
    masked = mask_request(request, masking)
    sent = masked.system + " ".join(m.content for m in masked.messages)
    assert not contains([sent]) and "811218" not in sent and "anna@" not in sent
    assert "[TELEFON_1]" in masked.system and "placeholders" in masked.system
    assert masked.messages[1].content == "Ring [TELEFON_1]." and masked.max_tokens == 50
    plain = ChatRequest(model="m", system="Du är en hjälpsam assistent.", messages=[ChatMessage("user", "Hej")])
    assert mask_request(plain, Masking()) == plain  # nothing to mask: sent exactly as it was


def test_placeholders_split_across_tokens_are_restored() -> None:
    masking = Masking()
    masked = masking.mask("Kontakta anna@example.se eller 070-123 45 67 om 811218-9876 [1].")
    rng = random.Random(15)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(masked)), rng.randint(1, 12)))
        pieces = [masked[a:b] for a, b in zip([0, *cuts], [*cuts, len(masked)], strict=True)]
        unmasker = masking.unmasker()
        out = "".join(unmasker.feed(p) for p in pieces) + unmasker.end()
        assert out == "Kontakta anna@example.se eller 070-123 45 67 om 811218-9876 [1]."


def test_only_a_possible_placeholder_is_held_back() -> None:
    masking = Masking()
    masking.mask("anna@example.se")
    unmasker = masking.unmasker()
    assert unmasker.feed("Se källa [") == "Se källa "   # could start [EMAIL_1]
    assert unmasker.feed("1] och ") == "[1] och "       # it did not: passed on at once
    assert unmasker.feed("[EMA") == ""
    assert unmasker.feed("IL_1") == ""
    assert unmasker.feed("].") == "anna@example.se."
    assert unmasker.feed("[EMAIL_") == "" and unmasker.end() == "[EMAIL_"  # an answer cut short keeps it


def test_nothing_masked_passes_text_through() -> None:
    unmasker = Masking().unmasker()
    assert unmasker.feed("[EMA") == "[EMA" and unmasker.end() == ""


@pytest.mark.parametrize(("local", "policy", "tenant", "expected"), [
    (True, PersonalData.mask, True, None),                         # the organisation's own model: as is
    (True, PersonalData.local_model, False, None),
    (False, PersonalData.tenant, False, None),                     # nobody opted in
    (False, PersonalData.tenant, True, PersonalData.mask),         # the organisation opted in
    (False, PersonalData.mask, False, PersonalData.mask),          # the assistant opted in
    (False, PersonalData.local_model, True, PersonalData.local_model),
])
def test_what_each_setting_does(local: bool, policy: PersonalData, tenant: bool,
                                expected: PersonalData | None) -> None:
    assert needed(local, policy, tenant) == expected


def test_texts_for_an_embedder_are_masked_each_on_its_own() -> None:
    """A chunk's masked text does not depend on its batch: an embedding provider gives it one vector."""
    first = "Anna 811218-9876, anna@example.se"
    second = "Bo 701063-2391 och Anna 811218-9876; organisationsnummer 556677-8899, 1 250 000 kr"
    masked, counts = mask_texts([first, second])
    assert masked == ["Anna [PERSONNUMMER_1], [EMAIL_1]",
                      "Bo [PERSONNUMMER_1] och Anna [PERSONNUMMER_2]; organisationsnummer 556677-8899, 1 250 000 kr"]
    assert mask_texts([second])[0] == masked[1:] and counts == {"personnummer": 3, "email": 1}
    assert mask_texts(["Inget personligt, 211 45 Malmö."]) == (["Inget personligt, 211 45 Malmö."], {})
