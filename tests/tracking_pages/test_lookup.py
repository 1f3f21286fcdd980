"""Finding an order by number + email or postcode: proof, equal failures, rate limits."""

from __future__ import annotations

import statistics
import time

import pytest

from tenants.scoping import tenant_scope
from tests.tracking_pages.conftest import IN_TRANSIT, make_order, make_shipment, page_url
from tracking_pages import services

pytestmark = pytest.mark.django_db


def lookup(client, tenant, **fields):
    return client.post(f"/t/{tenant.slug}/", {"lang": "en", **fields})


def test_the_lookup_form_asks_for_the_order_number_and_email_or_postcode(client, tenant_a):
    response = client.get(f"/t/{tenant_a.slug}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="order_number"' in html and 'name="email"' in html and 'name="postcode"' in html
    assert 'action="/t/alpha/"' in html
    assert "csrfmiddlewaretoken" not in html  # cacheable; the origin is checked instead


def test_order_number_and_email_open_the_order_page_with_its_details(
    client, tenant_a, order_a, shipment_a
):
    response = lookup(client, tenant_a, order_number="1001", email="Ada@Example.com ")

    assert response.status_code == 303
    assert response["Location"] == f"/t/alpha/{order_a.public_token}/?lang=en"
    page = client.get(response["Location"]).content.decode()
    assert "Order 1001" in page
    assert "Ada Lovelace" in page and "20121" in page
    assert "2 \u00d7 Blue teapot" in page.replace("</span> ", " ").replace('<span class="qty">', "")


def test_order_number_and_postcode_work_too_with_any_spacing_and_a_hash(
    client, tenant_a, shipment_a
):
    order = make_order(tenant_a, number="#2002", postcode="SW1A 1AA", email="")

    response = lookup(client, tenant_a, order_number="2002", postcode="sw1a1aa")

    assert response.status_code == 303
    assert response["Location"].startswith(f"/t/alpha/{order.public_token}/")


def test_the_proof_also_shows_details_on_the_parcel_page(client, tenant_a, order_a, shipment_a):
    lookup(client, tenant_a, order_number="1001", email="ada@example.com")

    page = client.get(page_url(tenant_a, shipment_a.public_token))

    assert "Ada Lovelace" in page.content.decode()
    assert page["Cache-Control"] == "no-store"


def test_no_such_order_and_wrong_email_answer_identically(client, tenant_a, order_a):
    wrong_email = lookup(client, tenant_a, order_number="1001", email="eve@example.com")
    no_order = lookup(client, tenant_a, order_number="1002", email="eve@example.com")

    assert wrong_email.status_code == no_order.status_code == 400
    # The only difference is the order number the shopper typed, echoed back in the form.
    assert wrong_email.content.replace(b"1001", b"1002") == no_order.content

    # Every response carries its own request id; nothing else may differ.
    def same(response):
        return sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")

    assert same(wrong_email) == same(no_order)
    assert "We could not find an order with these details." in no_order.content.decode()
    assert "sessionid" not in wrong_email.cookies and "sessionid" not in no_order.cookies


def test_a_wrong_postcode_answers_like_a_wrong_email(client, tenant_a, order_a):
    by_postcode = lookup(client, tenant_a, order_number="1001", postcode="99999")
    by_email = lookup(client, tenant_a, order_number="1001", email="eve@example.com")

    assert by_postcode.status_code == by_email.status_code == 400
    assert b"We could not find an order" in by_postcode.content


def test_an_order_without_email_is_never_proven_by_an_empty_email(client, tenant_a):
    make_order(tenant_a, number="3003", email="", postcode="")

    response = lookup(client, tenant_a, order_number="3003", email=" ", postcode="")

    assert response.status_code == 400
    assert (
        b"Enter the order number and either the email address or the postcode." in response.content
    )


def test_another_tenants_order_is_not_found(client, tenant_a, tenant_b, order_a):
    response = lookup(client, tenant_b, order_number="1001", email="ada@example.com")

    assert response.status_code == 400


def test_both_failures_take_the_same_time(client, tenant_a, order_a, settings):
    settings.WISMO_PAGES_LOOKUP_MIN_SECONDS = 0.12
    settings.WISMO_PAGES_LOOKUP_IP_LIMIT = (1000, 60)

    def timed(number):
        started = time.monotonic()
        lookup(client, tenant_a, order_number=number, email="eve@example.com")
        return time.monotonic() - started

    wrong = [timed("1001") for _ in range(4)]
    missing = [timed("1002") for _ in range(4)]

    assert min(wrong + missing) >= 0.12
    assert abs(statistics.median(wrong) - statistics.median(missing)) < 0.03


def test_attempts_past_the_per_ip_limit_answer_429_with_retry_after(
    client, tenant_a, order_a, settings
):
    settings.WISMO_PAGES_LOOKUP_IP_LIMIT = (3, 60)
    answers = [
        lookup(client, tenant_a, order_number="1001", email="eve@example.com").status_code
        for _ in range(3)
    ]

    blocked = lookup(client, tenant_a, order_number="1001", email="ada@example.com")

    assert answers == [400, 400, 400]
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert b"Too many attempts" in blocked.content
    # Another address is not held back by this one.
    other = client.post(
        "/t/alpha/",
        {"order_number": "1001", "email": "ada@example.com"},
        REMOTE_ADDR="10.0.0.9",
    )
    assert other.status_code == 303


def test_attempts_past_the_per_tenant_limit_answer_429_from_any_address(
    client, tenant_a, tenant_b, order_a, settings
):
    settings.WISMO_PAGES_LOOKUP_TENANT_LIMIT = (2, 60)
    for n in range(2):
        client.post("/t/alpha/", {"order_number": "9", "email": "x@y.z"}, REMOTE_ADDR=f"10.0.1.{n}")

    blocked = client.post(
        "/t/alpha/", {"order_number": "1001", "email": "ada@example.com"}, REMOTE_ADDR="10.0.1.99"
    )
    other_tenant = client.post(
        "/t/bravo/", {"order_number": "1", "email": "x@y.z"}, REMOTE_ADDR="10.0.1.99"
    )

    assert blocked.status_code == 429
    assert other_tenant.status_code == 400


def test_a_trusted_proxy_hands_over_the_shoppers_address(client, tenant_a, settings):
    settings.WISMO_TRUSTED_PROXY_COUNT = 1
    settings.WISMO_PAGES_LOOKUP_IP_LIMIT = (1, 60)
    first = client.post(
        "/t/alpha/", {"order_number": "9", "email": "x@y.z"}, HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    second = client.post(
        "/t/alpha/", {"order_number": "9", "email": "x@y.z"}, HTTP_X_FORWARDED_FOR="203.0.113.8"
    )
    third = client.post(
        "/t/alpha/", {"order_number": "9", "email": "x@y.z"}, HTTP_X_FORWARDED_FOR="203.0.113.7"
    )

    assert (first.status_code, second.status_code, third.status_code) == (400, 400, 429)


def test_an_order_number_with_too_many_failures_stops_proving_even_the_right_email(
    client, tenant_a, order_a, settings
):
    settings.WISMO_PAGES_LOOKUP_IP_LIMIT = (1000, 60)
    for n in range(services.LOCK_AFTER):
        lookup(client, tenant_a, order_number="1001", email=f"guess{n}@example.com")

    locked = lookup(client, tenant_a, order_number="1001", email="ada@example.com")

    assert locked.status_code == 400
    assert b"We could not find an order" in locked.content


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_ORIGIN": "null"},
    ],
)
def test_a_lookup_posted_from_another_site_is_refused(client, tenant_a, order_a, headers):
    response = client.post(
        "/t/alpha/", {"order_number": "1001", "email": "ada@example.com"}, **headers
    )

    assert response.status_code == 403
    assert "sessionid" not in response.cookies


def test_a_lookup_posted_from_the_page_itself_is_accepted(client, tenant_a, order_a):
    response = client.post(
        "/t/alpha/",
        {"order_number": "1001", "email": "ada@example.com"},
        HTTP_ORIGIN="http://testserver",
        HTTP_SEC_FETCH_SITE="same-origin",
    )

    assert response.status_code == 303


def test_a_proof_rotates_the_session_key(client, tenant_a, order_a):
    client.get(f"/t/{tenant_a.slug}/")
    session = client.session
    session["something"] = 1
    session.save()
    before = session.session_key

    lookup(client, tenant_a, order_number="1001", email="ada@example.com")

    assert client.cookies["sessionid"].value != before


# --- proof from the token page -------------------------------------------------------------------


def test_the_token_page_proves_its_order_with_the_email_alone(client, tenant_a, shipment_a):
    response = client.post(
        page_url(tenant_a, shipment_a.public_token, "verify/"), {"email": "ada@example.com"}
    )

    assert response.status_code == 303
    assert response["Location"] == f"/t/alpha/{shipment_a.public_token}/?lang=en#details"
    assert (
        "Ada Lovelace" in client.get(page_url(tenant_a, shipment_a.public_token)).content.decode()
    )


def test_a_wrong_email_on_the_token_page_proves_nothing(client, tenant_a, shipment_a):
    response = client.post(
        page_url(tenant_a, shipment_a.public_token, "verify/"), {"postcode": "00000"}
    )

    assert response.status_code == 400
    assert b"These details do not match this order." in response.content
    assert "Ada" not in client.get(page_url(tenant_a, shipment_a.public_token)).content.decode()


def test_a_proof_of_one_order_does_not_open_another(client, tenant_a, order_a, shipment_a):
    other_order = make_order(tenant_a, number="1005", email="bob@example.com", name="Bob Other")
    other = make_shipment(tenant_a, other_order, number="OTHER1", events=IN_TRANSIT)
    lookup(client, tenant_a, order_number="1001", email="ada@example.com")

    page = client.get(page_url(tenant_a, other.public_token)).content.decode()

    assert "Bob Other" not in page
    assert "See your order details" in page


def test_a_parcel_without_an_order_cannot_be_proven(client, tenant_a):
    with tenant_scope(tenant_a):
        orphan = make_shipment(tenant_a, None, number="ORPHAN1")

    page = client.get(page_url(tenant_a, orphan.public_token)).content.decode()
    response = client.post(page_url(tenant_a, orphan.public_token, "verify/"), {"email": "a@b.c"})

    assert "See your order details" not in page
    assert response.status_code == 400
