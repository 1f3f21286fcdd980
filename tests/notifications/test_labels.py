"""Shopper-facing words: complete for every status, substatus and language, with safe fallbacks."""

from __future__ import annotations

import re

import pytest

from carriers.statuses import DEFAULT_SUBSTATUS, SUBSTATUSES, Status
from wismo.tracking.labels import (
    LANGUAGES,
    NEXT_STEPS,
    REASONS,
    STATUS_LABELS,
    UI_WORDS,
    next_step,
    pick_language,
    status_label,
    substatus_text,
    ui_words,
)


def test_the_supported_languages_are_those_of_the_product():
    assert LANGUAGES == ("en", "it", "es", "de", "fr")


def test_every_main_status_has_a_label_in_every_language():
    # given the taxonomy, when asking each status's label, then every language has words
    assert set(STATUS_LABELS) == {status.value for status in Status}
    for status in Status:
        for lang in LANGUAGES:
            assert status_label(status, lang).strip(), (status, lang)


def test_every_substatus_has_a_reason_and_a_next_step_in_every_language():
    # A substatus added to carriers/statuses.py without its words fails here.
    assert set(REASONS) == set(SUBSTATUSES)
    assert set(NEXT_STEPS) == set(SUBSTATUSES)
    for code in SUBSTATUSES:
        for lang in LANGUAGES:
            assert set(REASONS[code]) == set(LANGUAGES), code
            assert set(NEXT_STEPS[code]) == set(LANGUAGES), code
            assert substatus_text(code, lang).strip(), (code, lang)
            assert next_step(code, lang).strip(), (code, lang)


def test_translations_differ_from_english():
    # given the tables, then no language reuses the English text (a missing translation)
    for table in (REASONS, NEXT_STEPS):
        for code, texts in table.items():
            for lang in ("it", "es", "de", "fr"):
                assert texts[lang] != texts["en"], (code, lang)


def test_interface_words_are_complete_and_keep_their_placeholders():
    for key, texts in UI_WORDS.items():
        assert set(texts) == set(LANGUAGES), key
        placeholders = {lang: set(re.findall(r"\{\w+\}", text)) for lang, text in texts.items()}
        assert all(found == placeholders["en"] for found in placeholders.values()), key
        assert all(text.strip() for text in texts.values()), key
    assert ui_words("de")["track_button"] == "Sendung verfolgen"
    assert set(ui_words("fr")) == set(UI_WORDS)


def test_the_reason_and_next_step_speak_plainly_about_what_to_do():
    assert next_step("failed_attempt.recipient_unavailable", "en").startswith(
        "The carrier will try again on the next working day, or you can collect it"
    )
    assert "carrier's link" in next_step("exception.held_for_payment", "en")
    assert next_step("exception.lost", "en") == (
        "The store has been told and will send a replacement or refund."
    )
    assert (
        substatus_text("delivered.neighbor", "it") == "Il tuo pacco è stato lasciato a un vicino."
    )


@pytest.mark.parametrize(
    ("candidates", "default", "expected"),
    [
        (("fr-CA",), "en", "fr"),
        (("pt_BR", "de_DE"), "en", "de"),
        ((None, "", "IT"), "en", "it"),
        (("pt-BR", "ja"), "es", "es"),
        (("pt-BR",), "pt", "en"),
        (("nl-BE,fr;q=0.8,en;q=0.5",), "en", "fr"),
        ((), "de-AT", "de"),
    ],
)
def test_pick_language_takes_the_first_supported_language_part(candidates, default, expected):
    assert pick_language(*candidates, default=default) == expected


def test_an_unknown_substatus_reads_as_its_main_status_default():
    # given a reason no table knows, when asking its words, then the main status's default answers
    for lang in LANGUAGES:
        default = DEFAULT_SUBSTATUS[Status.EXCEPTION]
        assert substatus_text("exception.meteor_strike", lang) == substatus_text(default, lang)
        assert next_step("exception.meteor_strike", lang) == next_step(default, lang)
        assert substatus_text("delivered", lang) == substatus_text("delivered.delivered", lang)


def test_an_unknown_language_falls_back_to_english():
    assert status_label("in_transit", "pt-BR") == "In transit"
    assert substatus_text("in_transit.in_transit", None) == "Your parcel is on its way."
    assert next_step("delivered.picked_up", "xx") == next_step("delivered.picked_up", "en")
    assert ui_words("ja")["track_button"] == "Track your parcel"


def test_an_unknown_main_status_has_no_words():
    assert status_label("teleported", "en") == ""
    assert substatus_text("teleported.somewhere", "en") == ""
    assert next_step(None, "en") == ""
