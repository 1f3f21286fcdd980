"""What a proven shopper may do: switch delivery emails, report a problem; nobody else may."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from notifications.models import Suppression, WebhookDelivery, WebhookEndpoint
from tenants.scoping import all_tenants, tenant_scope
from tests.factories import ev
from tests.tracking_pages.conftest import IN_TRANSIT, make_order, make_shipment, page_url
from tracking_pages import selectors, services
from tracking_pages.models import ProblemReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def proven(tenant_a, order_a, shipment_a):
    """A browser (CSRF checks on) whose shopper proved order 1001."""
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/t/alpha/", {"order_number": "1001", "email": "ada@example.com"})
    assert response.status_code == 303
    return browser


def csrf_of(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


# --- delivery emails --------------------------------------------------------------------------


def test_a_proven_shopper_turns_delivery_emails_off_and_on(proven, tenant_a, shipment_a):
    url = page_url(tenant_a, shipment_a.public_token)
    page = proven.get(url).content.decode()
    assert "We email ada@example.com when your parcel&#39;s status changes." in page

    off = proven.post(url + "notify/", {"subscribe": "0", "csrfmiddlewaretoken": csrf_of(page)})

    assert off.status_code == 303
    with tenant_scope(tenant_a):
        assert list(Suppression.objects.values_list("email", "reason")) == [
            ("ada@example.com", "unsubscribed")
        ]
    page = proven.get(url).content.decode()
    assert "ada@example.com does not receive delivery emails." in page

    on = proven.post(url + "notify/", {"subscribe": "1", "csrfmiddlewaretoken": csrf_of(page)})

    assert on.status_code == 303
    with tenant_scope(tenant_a):
        assert not Suppression.objects.exists()


def test_a_bounced_address_is_not_switched_back_on_by_the_shopper(proven, tenant_a, shipment_a):
    with tenant_scope(tenant_a):
        Suppression.objects.create(tenant=tenant_a, email="ada@example.com", reason="bounced")
    url = page_url(tenant_a, shipment_a.public_token)
    page = proven.get(url).content.decode()

    assert "could not be delivered" in page
    assert "notify/" not in page
    with tenant_scope(tenant_a):
        order = selectors.order_shipments(order_id=shipment_a.order_id)[0].order
        assert services.notify_set(tenant_id=tenant_a.pk, order=order, subscribe=True) == "bounced"


def test_switching_emails_needs_the_csrf_token(proven, tenant_a, shipment_a):
    response = proven.post(
        page_url(tenant_a, shipment_a.public_token, "notify/"), {"subscribe": "0"}
    )

    assert response.status_code == 403
    with tenant_scope(tenant_a):
        assert not Suppression.objects.exists()


def test_switching_emails_needs_the_proof(tenant_a, shipment_a):
    stranger = Client()

    response = stranger.post(
        page_url(tenant_a, shipment_a.public_token, "notify/"), {"subscribe": "0"}
    )

    assert response.status_code == 403
    with tenant_scope(tenant_a):
        assert not Suppression.objects.exists()


def test_the_csrf_token_of_a_cached_page_is_each_shoppers_own(tenant_a, order_a, shipment_a):
    pages = []
    for _ in range(2):
        browser = Client(enforce_csrf_checks=True)
        browser.post("/t/alpha/", {"order_number": "1001", "email": "ada@example.com"})
        html = browser.get(page_url(tenant_a, shipment_a.public_token)).content.decode()
        pages.append((browser, csrf_of(html)))

    (first, first_token), (_second, second_token) = pages
    assert first_token != second_token
    crossed = first.post(
        page_url(tenant_a, shipment_a.public_token, "notify/"),
        {"subscribe": "0", "csrfmiddlewaretoken": second_token},
    )
    own = first.post(
        page_url(tenant_a, shipment_a.public_token, "notify/"),
        {"subscribe": "0", "csrfmiddlewaretoken": first_token},
    )
    assert (crossed.status_code, own.status_code) == (403, 303)


# --- problem reports -----------------------------------------------------------------------------


def test_a_proven_shopper_reports_a_parcel_not_received_and_sees_what_happens_next(
    proven, tenant_a, order_a, shipment_a
):
    url = page_url(tenant_a, shipment_a.public_token, "report/")
    form = proven.get(url)
    assert form.status_code == 200

    response = proven.post(
        url,
        {
            "kind": "not_received",
            "message": "Not at my door <b>at all</b>",
            "csrfmiddlewaretoken": csrf_of(form.content.decode()),
            "lang": "en",
        },
    )

    assert response.status_code == 303
    with tenant_scope(tenant_a):
        report = ProblemReport.objects.get()
    assert (report.order_id, report.shipment_id, report.kind, report.state, report.message) == (
        order_a.pk,
        shipment_a.pk,
        "not_received",
        "open",
        "Not at my door <b>at all</b>",
    )
    page = proven.get(response["Location"]).content.decode()
    assert "The store will ask the carrier where and how the parcel was left" in page
    assert "Not at my door &lt;b&gt;at all&lt;/b&gt;" in page


def test_reporting_twice_keeps_one_open_case(proven, tenant_a, shipment_a):
    url = page_url(tenant_a, shipment_a.public_token, "report/")
    for _ in range(2):
        token = csrf_of(proven.get(url).content.decode())
        proven.post(url, {"kind": "damaged", "csrfmiddlewaretoken": token})

    with tenant_scope(tenant_a):
        assert ProblemReport.objects.count() == 1


def test_an_order_page_reports_on_the_parcel_the_shopper_picks(
    proven, tenant_a, order_a, shipment_a
):
    second = make_shipment(tenant_a, order_a, number="PARCEL2", events=IN_TRANSIT)
    url = page_url(tenant_a, order_a.public_token, "report/")
    token = csrf_of(proven.get(url).content.decode())

    proven.post(
        url, {"kind": "wrong_address", "parcel": second.public_token, "csrfmiddlewaretoken": token}
    )

    with tenant_scope(tenant_a):
        assert list(ProblemReport.objects.values_list("shipment_id", "kind")) == [
            (second.pk, "wrong_address")
        ]


def test_an_invalid_report_is_refused_with_a_reason(proven, tenant_a, order_a, shipment_a):
    make_shipment(tenant_a, order_a, number="PARCEL2")
    url = page_url(tenant_a, order_a.public_token, "report/")
    token = csrf_of(proven.get(url).content.decode())

    response = proven.post(url, {"kind": "stolen by aliens", "csrfmiddlewaretoken": token})
    no_parcel = proven.post(url, {"kind": "damaged", "csrfmiddlewaretoken": token})

    assert response.status_code == no_parcel.status_code == 400
    assert b"Choose what happened and the parcel it concerns." in response.content
    with tenant_scope(tenant_a):
        assert not ProblemReport.objects.exists()


def test_reporting_needs_the_proof(tenant_a, shipment_a):
    stranger = Client()

    form = stranger.get(page_url(tenant_a, shipment_a.public_token, "report/"))
    post = stranger.post(
        page_url(tenant_a, shipment_a.public_token, "report/"), {"kind": "damaged"}
    )

    assert form.status_code == post.status_code == 403
    with tenant_scope(tenant_a):
        assert not ProblemReport.objects.exists()


def test_a_proof_does_not_open_another_tenants_page(proven, tenant_b, shipment_a):
    response = proven.get(f"/t/{tenant_b.slug}/{shipment_a.public_token}/report/")

    assert response.status_code == 404


def test_listeners_hear_of_each_new_report_inside_its_transaction(tenant_a, order_a, shipment_a):
    heard = []
    services.problem_report_listen(heard.append)
    try:
        with tenant_scope(tenant_a):
            report, created = services.problem_report_create(
                order=order_a, shipment=shipment_a, kind="damaged", language="it"
            )
            again, created_again = services.problem_report_create(
                order=order_a, shipment=shipment_a, kind="damaged"
            )
    finally:
        services.problem_report_unlisten(heard.append)

    assert (created, created_again, again.pk) == (True, False, report.pk)
    assert heard == [report]


def test_the_webhook_listener_queues_one_signed_delivery_per_endpoint(
    tenant_a, order_a, shipment_a
):
    with tenant_scope(tenant_a):
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant_a, url="https://alpha.example/hooks", secret="s3cret"
        )
        WebhookEndpoint.objects.create(
            tenant=tenant_a,
            url="https://alpha.example/other",
            secret="x",
            events=["shipment.status_changed"],
        )
        services.problem_report_listen(services.problem_report_webhook_enqueue)
        try:
            report, _ = services.problem_report_create(
                order=order_a, shipment=shipment_a, kind="not_received", message="Nothing here"
            )
        finally:
            services.problem_report_unlisten(services.problem_report_webhook_enqueue)
        delivery = WebhookDelivery.objects.get()
        report.refresh_from_db()

    assert delivery.endpoint_id == endpoint.pk
    assert (delivery.event, delivery.event_id) == ("problem_report.created", f"prb_{report.pk}")
    assert delivery.payload["data"] == {
        "report_id": report.pk,
        "kind": "not_received",
        "message": "Nothing here",
        "language": "",
        "order_number": "1001",
        "order_external_id": order_a.external_id,
        "shipment_id": shipment_a.pk,
        "tracking_number": "TRK0001",
        "carrier": "manual",
        "status": "in_transit",
        "substatus": "in_transit.arrived_at_facility",
    }
    assert report.merchant_notified_at is not None


def test_the_merchants_queue_lists_open_reports_oldest_first(
    tenant_a, tenant_b, order_a, shipment_a
):
    second = make_shipment(tenant_a, order_a, number="PARCEL2", events=[ev(1, "delivered")])
    with tenant_scope(tenant_a):
        first, _ = services.problem_report_create(order=order_a, shipment=shipment_a, kind="other")
        later, _ = services.problem_report_create(
            order=order_a, shipment=second, kind="not_received"
        )
        services.problem_report_resolve(report=first)
        queue = list(selectors.problem_report_queue())
        unnotified = selectors.problem_reports_unnotified()
        services.problem_reports_mark_notified(ids=unnotified)
        still = selectors.problem_reports_unnotified()
    with tenant_scope(tenant_b):
        theirs = list(selectors.problem_report_queue())

    assert queue == [later]
    assert sorted(unnotified) == sorted([first.pk, later.pk])
    assert still == [] and theirs == []


def test_a_report_on_a_parcel_of_another_order_is_refused(tenant_a, order_a, shipment_a):
    other = make_shipment(tenant_a, make_order(tenant_a, number="1009"), number="OTHER9")

    with tenant_scope(tenant_a), pytest.raises(ValueError, match="does not belong"):
        services.problem_report_create(order=order_a, shipment=other, kind="damaged")


def test_erasing_a_shopper_blanks_their_report_messages(tenant_a, order_a, shipment_a):
    with tenant_scope(tenant_a):
        services.problem_report_create(
            order=order_a, shipment=shipment_a, kind="other", message="Call me on 555-1234"
        )
    with all_tenants():
        exported = services._export([order_a.pk], "ada@example.com")
        erased = services._erase([order_a.pk], "ada@example.com")
        messages = list(ProblemReport.objects.values_list("message", flat=True))

    assert [e["message"] for e in exported] == ["Call me on 555-1234"]
    assert (erased, messages) == (1, [""])
