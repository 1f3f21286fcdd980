"""Email rendering: the default templates in five languages over sample data, merchant overrides,
validation, and template injection failing safely within time and size limits."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.rendering import (
    MAX_OUTPUT_CHARS,
    MAX_SOURCE_BYTES,
    MAX_SUBJECT_CHARS,
    PARTS,
    TRIGGERS,
    VARIABLES,
    RenderedEmail,
    TemplateProblem,
    default_source,
    render,
    render_email,
    sample_context,
    validate,
)
from wismo.tracking.labels import LANGUAGES, next_step, substatus_text

TRACKING_URL = "https://track.northwind.example.com/t/northwind/Xq7vK2mR9pLs4TnW8yBd"
ORDER_NUMBER = "#1042"
BRAND = "Northwind Coffee"
# Words only the right language's email carries: one for the subject, one for the body.
SUBJECT_WORD = {"en": "order", "it": "ordine", "es": "pedido", "de": "Bestellung", "fr": "commande"}
BODY_WORD = {
    "en": "Track your parcel",
    "it": "Segui il tuo pacco",
    "es": "Sigue tu paquete",
    "de": "Sendung verfolgen",
    "fr": "Suivre mon colis",
}
HTML_TAG = re.compile(r"<[a-zA-Z!/][^>]*>")
ALL_CASES = [(trigger, lang) for trigger in TRIGGERS for lang in LANGUAGES]


def _email(trigger: str, lang: str, **changes: Any) -> RenderedEmail:
    context = sample_context(trigger, lang)
    context.update(changes)
    return render_email(trigger, lang, context)


# --- the defaults -------------------------------------------------------------------------------


def test_every_trigger_has_a_default_for_every_language_and_part():
    for trigger, lang in ALL_CASES:
        for part in PARTS:
            assert default_source(trigger, lang, part).strip(), (trigger, lang, part)


@pytest.mark.parametrize(("trigger", "lang"), ALL_CASES)
def test_each_default_email_carries_the_link_the_order_and_the_brand_in_its_language(trigger, lang):
    # given the sample context, when the default email renders
    email = _email(trigger, lang)

    # then every part is there, linked, branded and in the right language
    assert ORDER_NUMBER in email.subject
    assert SUBJECT_WORD[lang].lower() in email.subject.lower()
    assert "\n" not in email.subject and len(email.subject) <= MAX_SUBJECT_CHARS
    for body in (email.html, email.text):
        assert TRACKING_URL in body
        assert ORDER_NUMBER in body
        assert BRAND in body
        assert BODY_WORD[lang] in body
    assert f'<html lang="{lang}">' in email.html
    assert HTML_TAG.search(email.text) is None


@pytest.mark.parametrize(("trigger", "lang"), ALL_CASES)
def test_each_default_template_validates_without_warnings(trigger, lang):
    for part in PARTS:
        assert validate(default_source(trigger, lang, part), part) == []


def test_no_language_reuses_another_languages_copy():
    for trigger in TRIGGERS:
        subjects = {
            render_email(trigger, lang, sample_context(trigger, lang)).subject for lang in LANGUAGES
        }
        assert len(subjects) == len(LANGUAGES), trigger


def test_the_layout_shows_the_brand_logo_colour_and_no_scripts():
    # given a brand with a logo and a colour
    email = _email("shipped", "en")

    # then the header carries both, and the email loads nothing but the given images
    assert (
        '<img src="https://northwind.example.com/media/logo.png" alt="Northwind Coffee"'
        in email.html
    )
    assert "background-color:#1F3A5F" in email.html
    assert "<script" not in email.html.lower()
    sources = set(re.findall(r'src="([^"]+)"', email.html))
    assert sources == {
        "https://northwind.example.com/media/logo.png",
        "https://northwind.example.com/media/ethiopia-yirgacheffe.jpg",
        "https://northwind.example.com/media/pour-over-dripper.jpg",
        "https://northwind.example.com/media/new-arrivals.jpg",
        "https://northwind.example.com/media/product-1.jpg",
        "https://northwind.example.com/media/product-2.jpg",
    }
    assert "<link" not in email.html


def test_a_brand_without_a_logo_shows_its_name_and_a_light_colour_gets_dark_button_text():
    email = _email("shipped", "en", brand={"name": "Pale Shop", "primary_color": "#FAFAF0"})

    assert '<span style="font-family:Helvetica, Arial, sans-serif;font-size:20px' in email.html
    assert "Pale Shop</span>" in email.html
    assert "color:#111827;text-decoration:none;border-radius:6px;" in email.html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_exception_email_explains_the_reason_and_what_happens_next(lang):
    email = _email("exception", lang)

    for body in (email.html, email.text):
        assert substatus_text("exception.customs_hold", lang).replace("'", "") in body.replace(
            "&#39;", ""
        ).replace("'", "")
        assert next_step("exception.customs_hold", lang).replace("'", "") in body.replace(
            "&#39;", ""
        ).replace("'", "")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_failed_attempt_email_says_what_to_do(lang):
    email = _email("failed_attempt", lang)

    expected = next_step("failed_attempt.recipient_unavailable", lang)
    assert expected in email.text
    assert expected.replace("'", "&#39;") in email.html


def test_the_pickup_email_names_the_point_its_address_and_opening_hours():
    for lang in LANGUAGES:
        context = sample_context("available_for_pickup", lang)
        point = context["shipment"]["pickup_point"]
        email = render_email("available_for_pickup", lang, context)
        for body in (email.html, email.text):
            assert point["name"] in body
            assert point["address"] in body
            assert point["opening_hours"] in body


def test_the_delay_email_apologises_with_the_new_date_and_offers_the_code_only_when_set():
    # given a delay with a discount code, then the code is offered
    with_code = _email("delayed", "en")
    assert "We are sorry" in with_code.text
    assert "Thursday 12 June" in with_code.text
    assert "THANKYOU10" in with_code.html and "THANKYOU10" in with_code.text
    assert "here is a discount code" in with_code.text

    # given no code, then neither the code nor its block appears
    without = _email("delayed", "en", discount_code="")
    assert "discount code" not in without.text and "discount code" not in without.html
    assert "dashed" not in without.html


def test_the_code_block_is_not_shown_for_other_triggers():
    assert "THANKYOU10" not in _email("shipped", "en").html


def test_still_on_track_reassures_with_the_expected_date():
    email = _email("still_on_track", "it")

    assert "non preoccuparti" in email.text
    assert "giovedì 12 giugno" in email.text


def test_tracking_number_changed_shows_the_old_and_the_new_number():
    for lang in LANGUAGES:
        context = sample_context("tracking_number_changed", lang)
        email = render_email("tracking_number_changed", lang, context)
        for body in (email.html, email.text):
            assert context["shipment"]["previous_tracking_number"] in body
            assert context["shipment"]["tracking_number"] in body


def test_delivery_check_asks_whether_it_arrived_with_a_link_to_report_a_problem():
    email = _email("delivery_check", "fr")

    assert email.subject == "Votre commande #1042 est-elle bien arrivée ?"
    assert f'<a href="{TRACKING_URL}" target="_blank"' in email.html
    assert "Signaler un problème</a>" in email.html
    assert f"Signaler un problème: {TRACKING_URL}" in email.text


def test_a_split_order_lists_each_parcel_with_its_status():
    # given an order travelling in two parcels, one delivered
    context = sample_context("shipped", "en")
    first = context["shipment"]
    second = dict(
        first, tracking_number="QF000000015GB", status="delivered", substatus="delivered.neighbor"
    )
    second.update(status_label="", reason="", next_step="", delivered_at="Wednesday 11 June, 12:03")
    context["shipments"] = [first, second]

    # when the email renders
    email = render_email("shipped", "en", context)

    # then both parcels are listed with their own status (the missing label filled in)
    assert "Your order is travelling in 2 parcels:" in email.text
    assert "Parcel 1: In transit" in email.text
    assert "Parcel 2: Delivered" in email.text
    for body in (email.html, email.text):
        assert "QF123456785GB" in body and "QF000000015GB" in body
    assert "Parcel 2 &middot; Delivered" in email.html


def test_a_single_parcel_shows_its_status_block_not_a_list():
    email = _email("in_transit", "de")

    assert "Paket 1" not in email.text
    assert "Status: Unterwegs" in email.text
    assert "Sendungsnummer: 00340434161234567890" in email.text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_promotion_is_never_in_exception_emails(lang):
    # given a context whose promotion is set, even one claiming it should show
    context = sample_context("exception", lang)
    context["show_promotion"] = True
    title = context["promotion"]["title"]

    # when exception and shipped emails render
    exception = render_email("exception", lang, context)
    shipped = render_email("shipped", lang, sample_context("shipped", lang))

    # then only the shipped one carries it
    for body in (exception.html, exception.text):
        assert title not in body
        assert "new-arrivals.jpg" not in body
    assert title in shipped.text and "new-arrivals.jpg" in shipped.html


def test_the_promotion_is_off_when_not_configured():
    email = _email("delivered", "en", promotion=None)

    assert "Fresh from the roaster" not in email.html
    assert "Shop now" not in email.html


def test_a_merchant_override_replaces_its_part_and_the_defaults_fill_the_rest():
    # given an override of the subject only, and one of the html extending the built-in layout
    overrides = {
        "subject": "{{ shopper.first_name }}, it's coming! ({{ order.number }})",
        "html": '{% extends "layout.html" %}{% block title %}Hooray, {{ shopper.first_name }}{% endblock %}',
    }

    # when rendered
    email = render_email("shipped", "en", sample_context("shipped", "en"), overrides)

    # then the overridden parts are the merchant's, the text part is the default
    assert email.subject == "Emma, it's coming! (#1042)"
    assert "Hooray, Emma</h1>" in email.html
    assert TRACKING_URL in email.html
    assert email.text == _email("shipped", "en").text


def test_an_empty_override_falls_back_to_the_default():
    email = render_email("shipped", "en", sample_context("shipped", "en"), {"subject": ""})

    assert email.subject == "Your order #1042 is on its way"


def test_an_unsupported_language_renders_the_fallback_language():
    email = render_email("shipped", "pt-BR", sample_context("shipped", "en"))

    assert email.subject == "Your order #1042 is on its way"
    assert render_email("shipped", "fr-CA", sample_context("shipped", "fr")).subject == (
        "Votre commande #1042 est en route"
    )


def test_every_sample_context_fills_every_documented_variable():
    for trigger, lang in ALL_CASES:
        context = sample_context(trigger, lang)
        assert set(context) == set(VARIABLES)
        assert context["language"] == lang
        shipment = context["shipment"]
        assert all(
            value not in (None, "") for key, value in shipment.items() if key != "delivered_at"
        )


def test_an_empty_context_still_renders_every_email():
    for trigger, lang in ALL_CASES:
        email = render_email(trigger, lang, {})
        assert email.subject and email.html and email.text


def test_urls_that_are_not_http_are_dropped_and_colours_are_checked():
    # given hostile values from the merchant's settings
    email = _email(
        "shipped",
        "en",
        tracking_url="javascript:alert(1)",
        brand={
            "name": "X",
            "primary_color": "red;background:url(https://evil.example/x)",
            "logo_url": "data:text/html,hi",
        },
    )

    # then no such link or style reaches the email
    assert "javascript:" not in email.html
    assert "data:text" not in email.html
    assert "evil.example" not in email.html
    assert "background-color:#1F2937" in email.html


# --- escaping -----------------------------------------------------------------------------------


def _replace_strings(value: Any, new: str) -> Any:
    if isinstance(value, str):
        return new
    if isinstance(value, dict):
        return {key: _replace_strings(item, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_strings(item, new) for item in value]
    return value


_PAYLOADS = st.builds(
    lambda before, tag, after: before + tag + after,
    st.text(max_size=12),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "<SCRIPT src=//x.example/a.js></SCRIPT>",
            '"><script>alert(1)</script>',
            "'><ScRiPt>x</ScRiPt>",
            "<scr<script>ipt>",
        ]
    ),
    st.text(max_size=12),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trigger=st.sampled_from(TRIGGERS), lang=st.sampled_from(LANGUAGES), payload=_PAYLOADS)
def test_html_escapes_script_tags_in_every_context_string(trigger, lang, payload):
    # given every string of the context replaced by a script injection
    context = _replace_strings(sample_context(trigger, lang), payload)

    # when rendered
    email = render_email(trigger, lang, context)

    # then the html never contains a raw script tag, and the subject stays one line
    assert "<script" not in email.html.lower()
    assert "\n" not in email.subject


@settings(max_examples=30, deadline=None)
@given(payload=_PAYLOADS)
def test_a_merchant_html_template_escapes_context_values(payload):
    context = copy.deepcopy(sample_context("shipped", "en"))
    context["shopper"]["name"] = payload

    html = render(
        "<p>{{ shopper.name }}</p>{{ shopper.name ~ '!' }}{{ [shopper.name]|join }}",
        "html",
        context,
    )

    assert "<script" not in html.lower()


# --- merchant templates ---------------------------------------------------------------------------


def test_undefined_variables_and_fields_render_as_empty():
    text = render(
        "[{{ shoper.name }}|{{ shopper.nme.first }}|{{ nothing() }}|{{ shopper.name.upper() }}]",
        "text",
        {},
    )

    assert text == "[|||]\n"


def test_order_items_means_the_items_not_the_dict_method():
    html = render(
        "{% for item in order.items %}{{ item.title }};{% endfor %}",
        "html",
        sample_context("shipped", "en"),
    )

    assert html == "Ethiopia Yirgacheffe coffee beans, 500 g;Ceramic pour-over dripper;\n"


def test_the_subject_is_collapsed_to_one_line_and_capped():
    subject = render("Line one\n\n  line\ttwo {{ 'x' * 400 }}", "subject", {})

    assert subject.startswith("Line one line two xxx")
    assert len(subject) == MAX_SUBJECT_CHARS
    assert subject.endswith("…")


def test_the_text_part_is_not_escaped():
    assert render("{{ name }}", "text", {"name": "Tom & Jerry <3"}) == "Tom & Jerry <3\n"
    assert render("{{ name }}", "html", {"name": "Tom & Jerry <3"}) == "Tom &amp; Jerry &lt;3\n"


def test_loops_cycles_joiners_and_namespaces_work_for_honest_templates():
    source = (
        "{% set ns = namespace(total=0) %}{% set comma = joiner(', ') %}"
        "{% for n in range(1, 4) %}{{ comma() }}{{ loop.cycle('a', 'b') }}{{ n }}"
        "{% set ns.total = ns.total + n %}{% endfor %} = {{ ns.total }}"
    )

    assert render(source, "text", {}) == "a1, b2, a3 = 6\n"


def test_a_runtime_error_is_a_template_problem_with_its_line():
    with pytest.raises(TemplateProblem) as problem:
        render("line one\n{{ 1 // 0 }}", "text", {})

    assert problem.value.line == 2
    assert "ZeroDivisionError" in problem.value.message


def test_validate_reports_a_syntax_error_with_its_line_number():
    with pytest.raises(TemplateProblem) as problem:
        validate("<p>Hello</p>\n<p>\n{% if shipment.status %}\n{{ order.number }}\n", "html")

    assert problem.value.line == 4
    assert str(problem.value).startswith("line 4: ")


def test_validate_reports_an_unknown_filter_with_its_line_number():
    with pytest.raises(TemplateProblem) as problem:
        validate("a\nb\n{{ order.number|shout }}", "text")

    assert problem.value.line == 3
    assert "shout" in problem.value.message


def test_validate_warns_about_unknown_variables_and_fields():
    warnings = validate(
        "{{ shoper.name }}\n{{ shipment.carier }}\n{% for item in order.items %}{{ item.title }}{% endfor %}\n{{ ui.track_button }}",
        "html",
    )

    assert warnings == [
        "line 1: unknown variable 'shoper' (renders as empty)",
        "line 2: shipment has no field 'carier' (renders as empty)",
    ]


def test_validate_refuses_sources_over_the_size_limit():
    with pytest.raises(TemplateProblem, match="larger than 100 KB"):
        validate("x" * (MAX_SOURCE_BYTES + 1), "html")


def test_validate_refuses_nesting_too_deep():
    with pytest.raises(TemplateProblem, match="nested"):
        validate("{% if true %}" * 60 + "x" + "{% endif %}" * 60, "html")
    with pytest.raises(TemplateProblem, match="loops inside each other"):
        validate("{% for a in [1] %}" * 12 + "x" + "{% endfor %}" * 12, "text")


def test_validate_refuses_an_unknown_part_or_built_in_template():
    with pytest.raises(TemplateProblem, match="unknown part"):
        validate("x", "body")
    with pytest.raises(TemplateProblem) as problem:
        validate('\n{% extends "base.html" %}', "html")
    assert problem.value.line == 2


@pytest.mark.parametrize(
    "name",
    [
        "../settings.py",
        "/etc/passwd",
        "en/../../../etc/passwd",
        "emails/layout.html",
        "layout.py",
        "EN/shipped.html",
    ],
)
def test_templates_load_only_the_built_in_defaults_by_plain_names(name):
    with pytest.raises(TemplateProblem):
        render('{% include "' + name + '" %}', "html", {})
    with pytest.raises(TemplateProblem):
        render("{% include name %}", "html", {"name": name})


def test_a_merchant_template_may_include_a_built_in_one():
    text = render('{% include "en/shipped.subject.txt" %}', "text", sample_context("shipped", "en"))

    assert text == "Your order #1042 is on its way\n"


# --- injection attempts -----------------------------------------------------------------------------

ATTACKS = {
    "class": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__.os }}",
    "subclasses by item": "{{ ''['__class__']['__mro__'] }}",
    "template reference context": "{{ self._TemplateReference__context }}",
    "attr filter": "{{ ''|attr('__class__') }}",
    "attr filter by variable": "{% set n = '__cla' ~ 'ss__' %}{{ ''|attr(n) }}",
    "getattr by variable": "{% set n = '__cla' ~ 'ss__' %}{{ ''[n] }}",
    "joiner internals": "{{ joiner().__call__.__globals__ }}",
    "namespace internals": "{{ namespace.__init__.__globals__ }}",
    "namespace attribute": "{% set ns = namespace() %}{% set ns.__class__ = 1 %}",
    "loop cycle internals": "{% for x in [1] %}{{ loop.cycle.__func__ }}{% endfor %}",
    "mutating a list": "{% set l = [] %}{{ l.append(1) }}",
    "huge range": "{{ range(10**9)|list }}",
    "huge range in a loop": "{% for i in range(10**9) %}{% endfor %}",
    "string repetition": "{{ 'a' * 10**9 }}",
    "list repetition": "{{ [0] * 10**9 }}",
    "tower of powers": "{{ 10**10**10 }}",
    "huge power": "{{ 10**(10**10) }}",
    "squaring": "{% set n = 10**70 %}{{ n * n * n * n }}",
    "nested loops output": "{% for a in range(1000) %}{% for b in range(1000) %}xxxxxxxxxxxxxxxxxxxx{% endfor %}{% endfor %}",
    "nested loops no output": "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
    "loops over a repeated string": "{% set s = 'x' * 1000 %}{% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}",
    "recursive macro": "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "doubling macro": "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(40) }}",
    "recursive loop": "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    "deep parentheses": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "percent format width": "{{ '%999999999s'|format('a') }}",
    "percent format star width": "{{ '%*s'|format(999999999, 'a') }}",
    "percent operator width": "{{ '%999999999s' % 'a' }}",
    "str.format width": "{{ '{:>999999999}'.format('a') }}",
    "str.format nested width": "{{ '{:>{w}}'.format('a', w=999999999) }}",
    "str.format_map width": "{{ '{a:>999999999}'.format_map({'a': 1}) }}",
    "center filter": "{{ 'a'|center(10**9) }}",
    "center method": "{{ 'a'.center(10**9) }}",
    "indent filter": "{{ 'a\\nb'|indent(width=10**9) }}",
    "indent by string": "{{ ('a\\n' * 1000)|indent('x' * 1000) }}",
    "wordwrap": "{{ ('a ' * 1000)|wordwrap(1, wrapstring='x' * 100000) }}",
    "replace growth": "{% set s = 'x' * 1000 %}{{ s|replace('x', s) }}",
    "replace method growth": "{% set s = 'x' * 1000 %}{{ s.replace('', s) }}",
    "join growth": "{% set s = 'x' * 100000 %}{{ [s, s, s, s, s, s]|join(s) }}",
    "batch fill": "{{ [1]|batch(10**9, 'x')|list }}",
    "slice count": "{{ [1]|slice(10**9)|list }}",
    "tojson indent": "{{ {'a': [1, 2]}|tojson(indent=10**8) }}",
    "to_bytes": "{{ (1).to_bytes(10**9, 'big') }}",
    "expandtabs": "{{ '\\t'.expandtabs(10**9) }}",
    "translate": "{{ ('a' * 1000).translate({97: 'b' * 1000}) }}",
    "concat doubling": "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "plus doubling": "{% set ns = namespace(s=[1]) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "shared list printed": "{% set a = 'x' * 1000 %}{% set b = [a,a,a,a,a,a,a,a,a,a] %}{% set c = [b,b,b,b,b,b,b,b,b,b] %}{% set d = [c,c,c,c,c,c,c,c,c,c] %}{{ d }}",
    "shared list through a filter": "{% set a = 'x' * 1000 %}{% set b = [a,a,a,a,a,a,a,a,a,a] %}{% set c = [b,b,b,b,b,b,b,b,b,b] %}{% set d = [c,c,c,c,c,c,c,c,c,c] %}{{ d|string|length }}",
    "captured block": "{% set b %}{% for a in range(1000) %}{% for c in range(100) %}"
    + "y" * 1000
    + "{% endfor %}{% endfor %}{% endset %}{{ b|length }}",
    "macro buffer": "{% macro m() %}{% for a in range(1000) %}{{ 'y' * 1000 }}{% endfor %}{% endmacro %}{{ m()|length }}",
    "block via self": "{% block b %}{% for a in range(1000) %}{{ 'y' * 1000 }}{% endfor %}{% endblock %}{{ self.b()|length }}",
    "undefined arithmetic": "{{ nothing + 1 }}",
}


@pytest.mark.parametrize("source", list(ATTACKS.values()), ids=list(ATTACKS))
def test_template_injection_fails_safely_within_limits(source):
    # given a merchant template trying to escape the sandbox or exhaust the worker
    started = time.monotonic()

    # when rendered, then it fails as a TemplateProblem, quickly
    with pytest.raises(TemplateProblem):
        render(source, "html", sample_context("shipped", "en"))
    assert time.monotonic() - started < 3


def test_slow_templates_stop_at_the_time_limit():
    # given a template doing heavy work on every step, well within the step budget
    source = (
        "{% set big = 'x' * 400000 %}"
        "{% for i in range(1000) %}{% for j in range(100) %}{% set y = big|upper %}{% endfor %}{% endfor %}"
    )
    started = time.monotonic()

    with pytest.raises(TemplateProblem, match="longer than 2 seconds"):
        render(source, "text", {})

    assert time.monotonic() - started < 3


def test_the_output_never_exceeds_the_cap():
    # given output that stays just under the cap, and just over it
    under = render("{% for i in range(500) %}{{ 'y' * 1000 }}{% endfor %}", "text", {})
    assert len(under) <= MAX_OUTPUT_CHARS

    with pytest.raises(TemplateProblem, match="larger than 512 KB"):
        render("{% for i in range(600) %}{{ 'y' * 1000 }}{% endfor %}", "text", {})


def test_validate_refuses_private_names_with_their_line():
    with pytest.raises(TemplateProblem) as problem:
        validate("ok\n{{ shipment.__class__ }}", "html")

    assert problem.value.line == 2
    assert "'__class__'" in problem.value.message


def test_problems_are_value_errors_with_a_message_and_a_line():
    problem = TemplateProblem("boom", 3)

    assert isinstance(problem, ValueError)
    assert (problem.message, problem.line, str(problem)) == ("boom", 3, "line 3: boom")
    assert str(TemplateProblem("boom")) == "boom"
