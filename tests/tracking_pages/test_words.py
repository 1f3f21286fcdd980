"""The pages' own words exist in every language, with the same placeholders (no database)."""

from __future__ import annotations

import string
from datetime import timedelta

import pytest

from tracking_pages.words import WORDS, relative, words
from wismo.tracking.labels import LANGUAGES


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(WORDS))
def test_every_word_is_translated_with_the_same_placeholders(key):
    texts = WORDS[key]

    assert set(texts) == set(LANGUAGES)
    assert all(texts[lang].strip() for lang in LANGUAGES)
    assert {lang: _placeholders(texts[lang]) for lang in LANGUAGES} == {
        lang: _placeholders(texts["en"]) for lang in LANGUAGES
    }


def test_page_words_include_the_shared_interface_words():
    italian = words("it")

    assert italian["carrier"] == "Corriere"
    assert italian["lookup_button"] == "Segui il mio ordine"


def test_an_unknown_language_reads_english():
    assert words("pt-BR")["lookup_title"] == "Where is my order?"


@pytest.mark.parametrize(
    ("lang", "delta", "future", "text"),
    [
        ("en", timedelta(seconds=20), False, "just now"),
        ("en", timedelta(minutes=8), False, "8 minutes ago"),
        ("en", timedelta(hours=1, minutes=5), False, "1 hour ago"),
        ("en", timedelta(days=2, hours=3), False, "2 days ago"),
        ("en", timedelta(hours=3), True, "in about 3 hours"),
        ("it", timedelta(days=1), False, "1 giorno fa"),
        ("it", timedelta(minutes=2), True, "tra circa 2 minuti"),
        ("es", timedelta(hours=5), False, "hace 5 horas"),
        ("de", timedelta(days=1), False, "vor 1 Tag"),
        ("de", timedelta(days=2), False, "vor 2 Tagen"),
        ("fr", timedelta(minutes=1), False, "il y a 1 minute"),
        ("fr", timedelta(days=3), True, "dans environ 3 jours"),
    ],
)
def test_durations_read_naturally_in_each_language(lang, delta, future, text):
    assert relative(delta, lang, future=future) == text


def test_a_negative_duration_reads_as_just_now():
    assert relative(timedelta(minutes=-5), "en") == "just now"
