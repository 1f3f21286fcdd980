"""Support agents: the one-box search, the shipment page, ready replies, contacts and actions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from dashboard.models import ContactChannel, ShipmentNote, WismoContact
from dashboard.replies import ready_reply
from dashboard.selectors import agent as selectors
from dashboard.services import actions
from notifications.models import Notification
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.dashboard.conftest import member, signed_in
from tests.factories import OrderFactory, ShipmentFactory
from tracking_pages.models import PageViewCount
from wismo.tracking import tasks
from wismo.tracking.models import PollQueue, Shipment, TrackingEvent

pytestmark = pytest.mark.django_db


def search(client, q):
    return client.get("/dashboard/search/", {"q": q})


def shipment_ids(response) -> list[int]:
    return [hit.shipment.pk for hit in response.context["hits"] if hit.shipment]


def contacts(tenant):
    with tenant_scope(tenant):
        return list(WismoContact.objects.order_by("id"))


def sent_email(tenant, shipment, trigger="in_transit") -> Notification:
    with tenant_scope(tenant):
        return Notification.objects.create(
            tenant=tenant,
            shipment=shipment,
            order=shipment.order,
            trigger=trigger,
            dedupe_key=f"{shipment.pk}:{trigger}",
            recipient=shipment.order.customer_email,
            language="en",
            state=Notification.State.SENT,
            sent_at=timezone.now(),
        )


# --- search ---------------------------------------------------------------------------------


def test_an_order_number_finds_its_shipment_with_a_ready_reply(agent_client, shipment_a):
    response = search(agent_client, "1001")

    assert response.status_code == 200
    assert shipment_ids(response) == [shipment_a.pk]
    html = response.content.decode()
    assert f'id="reply-{shipment_a.pk}"' in html
    assert f'data-copy-target="#reply-{shipment_a.pk}"' in html
    assert "In transit" in html


def test_a_tracking_number_is_found_however_it_is_typed(agent_client, shipment_a):
    typed = " ".join(shipment_a.tracking_number.lower())  # spaces, lower case

    assert shipment_ids(search(agent_client, typed)) == [shipment_a.pk]


def test_an_email_is_found_whatever_its_case(agent_client, shipment_a):
    assert shipment_ids(search(agent_client, "ADA@example.com")) == [shipment_a.pk]


def test_a_name_is_found_by_part(agent_client, shipment_a):
    assert shipment_ids(search(agent_client, "lovelace")) == [shipment_a.pk]


def test_exact_matches_come_before_names(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        exact = ShipmentFactory(
            tenant=tenant_a, order=OrderFactory(tenant=tenant_a, order_number="BOB")
        )
        named = ShipmentFactory(
            tenant=tenant_a, order=OrderFactory(tenant=tenant_a, customer_name="Bob Marley")
        )

    response = search(agent_client, "bob")

    assert shipment_ids(response) == [exact.pk, named.pk]
    assert [hit.match for hit in response.context["hits"]] == ["order_number", "name"]
    assert "Ready reply" not in response.content.decode()  # two shipments: no single reply


def test_an_order_without_shipments_is_listed(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        OrderFactory(tenant=tenant_a, order_number="5555")

    response = search(agent_client, "5555")

    assert [(h.order.order_number, h.shipment) for h in response.context["hits"]] == [
        ("5555", None)
    ]
    assert "No shipment yet" in response.content.decode()
    assert contacts(tenant_a) == []


def test_results_are_bounded(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        for _ in range(selectors.MAX_RESULTS + 5):
            ShipmentFactory(
                tenant=tenant_a, order=OrderFactory(tenant=tenant_a, customer_name="Grace Hopper")
            )

    response = search(agent_client, "hopper")

    assert len(response.context["hits"]) == selectors.MAX_RESULTS
    assert "showing the first" in response.content.decode()


def test_nothing_found_says_so(agent_client, shipment_a):
    response = search(agent_client, "no-such-thing")

    assert response.status_code == 200
    assert 'id="no-results"' in response.content.decode()


def test_an_empty_search_shows_the_box(agent_client, shipment_a):
    response = agent_client.get("/dashboard/search/")

    assert response.status_code == 200
    assert response.context["hits"] == []


def test_a_too_long_search_is_refused(agent_client, shipment_a, tenant_a):
    response = search(agent_client, "x" * 201)

    assert response.status_code == 400
    assert "at most 200" in response.content.decode()
    assert contacts(tenant_a) == []


def test_search_needs_a_sign_in(client, shipment_a):
    response = client.get("/dashboard/search/", {"q": "1001"})

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_another_tenant_finds_nothing_of_ours(client_b, shipment_a):
    assert shipment_ids(search(client_b, shipment_a.tracking_number)) == []
    assert shipment_ids(search(client_b, "1001")) == []
    assert shipment_ids(search(client_b, "ada@example.com")) == []
    assert shipment_ids(search(client_b, "Lovelace")) == []


def test_search_pages_carry_the_dashboard_csp(agent_client, shipment_a):
    response = search(agent_client, "1001")

    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "<script>" not in response.content.decode()
    assert 'style="' not in response.content.decode()


def test_shopper_text_is_escaped(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        ShipmentFactory(
            tenant=tenant_a,
            order=OrderFactory(tenant=tenant_a, order_number="X1", customer_name="<b>Eve</b>"),
        )

    html = search(agent_client, "X1").content.decode()

    assert "<b>Eve</b>" not in html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html


# --- shipment page --------------------------------------------------------------------------


def test_the_shipment_page_shows_everything_an_agent_needs(agent_client, tenant_a, shipment_a):
    with tenant_scope(tenant_a):
        TrackingEvent.objects.create(
            tenant=tenant_a,
            shipment=shipment_a,
            occurred_at=timezone.now() - timedelta(hours=3),
            status="in_transit",
            substatus="in_transit.arrived_at_facility",
            code="RAW-42",
            description="Arrivata al centro",
            location="Bologna, IT",
            dedupe_key="e1",
        )
        PageViewCount.objects.create(
            tenant=tenant_a, shipment=shipment_a, day=timezone.now().date(), views=7
        )
    sent_email(tenant_a, shipment_a)

    response = agent_client.get(f"/dashboard/shipments/{shipment_a.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        shipment_a.tracking_number,
        "RAW-42",
        "Arrivata al centro",
        "Bologna, IT",
        "#1001",
        "Ada Lovelace",
        "ada@example.com",
        "<strong>7</strong> views",
        "In transit",  # the email's trigger
        f'id="reply-{shipment_a.pk}"',
        "data-confirm=",
    ):
        assert text in html, text


def test_event_times_read_in_the_shops_time_zone(agent_client, tenant_a, shipment_a):
    tenant_a.timezone = "Europe/Rome"
    tenant_a.save()
    with tenant_scope(tenant_a):
        TrackingEvent.objects.create(
            tenant=tenant_a,
            shipment=shipment_a,
            occurred_at=datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
            status="in_transit",
            substatus="in_transit.in_transit",
            dedupe_key="tz",
        )

    html = agent_client.get(f"/dashboard/shipments/{shipment_a.pk}/").content.decode()

    assert "1 Jul 2026 12:00" in html


def test_a_carrier_link_is_shown_when_the_carrier_has_one(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="dhl", tracking_number="1234567890")

    html = agent_client.get(f"/dashboard/shipments/{shipment.pk}/").content.decode()

    assert "dhl.com" in html


def test_another_tenants_shipment_is_404(client_b, shipment_a):
    assert client_b.get(f"/dashboard/shipments/{shipment_a.pk}/").status_code == 404
    assert client_b.get("/dashboard/shipments/999999/").status_code == 404


@pytest.mark.parametrize("action", ["notes", "contact", "retrack", "resend", "stop"])
def test_another_tenant_cannot_act_on_our_shipment(client_b, tenant_a, shipment_a, action):
    response = client_b.post(
        f"/dashboard/shipments/{shipment_a.pk}/{action}/", {"body": "hi", "channel": "phone"}
    )

    assert response.status_code == 404
    with tenant_scope(tenant_a):
        shipment_a.refresh_from_db()
        assert shipment_a.is_active is True
        assert not ShipmentNote.objects.exists()
        assert not WismoContact.objects.exists()
        assert not Notification.objects.exists()


@pytest.mark.parametrize("action", ["notes", "contact", "retrack", "resend", "stop"])
def test_actions_are_post_only(agent_client, shipment_a, action):
    assert agent_client.get(f"/dashboard/shipments/{shipment_a.pk}/{action}/").status_code == 405


def test_every_role_may_use_the_agent_pages(tenant_a, shipment_a):
    for role in (Role.AGENT, Role.ADMIN, Role.OWNER):
        client = signed_in(member(tenant_a, role, f"{role}-x@alpha.example"))
        assert search(client, "1001").status_code == 200
        assert client.get(f"/dashboard/shipments/{shipment_a.pk}/").status_code == 200


# --- notes ----------------------------------------------------------------------------------


def test_an_agent_adds_a_note(agent_client, agent_a, tenant_a, shipment_a):
    response = agent_client.post(
        f"/dashboard/shipments/{shipment_a.pk}/notes/", {"body": "Called the carrier <script>"}
    )

    assert response.status_code == 302
    with tenant_scope(tenant_a):
        note = ShipmentNote.objects.get()
    assert (note.shipment_id, note.author_id, note.body) == (
        shipment_a.pk,
        agent_a.pk,
        "Called the carrier <script>",
    )
    html = agent_client.get(response["Location"]).content.decode()
    assert "Called the carrier &lt;script&gt;" in html


@pytest.mark.parametrize("body", ["", "   ", "x" * 5001])
def test_a_bad_note_is_refused(agent_client, tenant_a, shipment_a, body):
    response = agent_client.post(f"/dashboard/shipments/{shipment_a.pk}/notes/", {"body": body})

    assert response.status_code == 400
    with tenant_scope(tenant_a):
        assert not ShipmentNote.objects.exists()


# --- contacts -------------------------------------------------------------------------------


def test_opening_a_shipment_from_the_search_logs_one_contact(
    agent_client, agent_a, tenant_a, shipment_a
):
    url = f"/dashboard/shipments/{shipment_a.pk}/?q=1001"
    agent_client.get(url)
    agent_client.get(url)  # a refresh is not a new contact

    [contact] = contacts(tenant_a)
    assert (contact.channel, contact.query, contact.user_id) == ("dashboard", "1001", agent_a.pk)
    assert (contact.shipment_id, contact.order_id) == (shipment_a.pk, shipment_a.order_id)
    assert (contact.carrier, contact.status, contact.notified) == ("manual", "in_transit", False)


def test_a_single_search_hit_counts_as_a_contact_once(agent_client, tenant_a, shipment_a):
    search(agent_client, "1001")
    agent_client.get(f"/dashboard/shipments/{shipment_a.pk}/?q=1001")

    assert len(contacts(tenant_a)) == 1


def test_opening_a_shipment_from_elsewhere_logs_nothing(agent_client, tenant_a, shipment_a):
    agent_client.get(f"/dashboard/shipments/{shipment_a.pk}/")

    assert contacts(tenant_a) == []


def test_contacts_count_again_after_half_an_hour_or_for_someone_else(
    agent_client, tenant_a, shipment_a
):
    url = f"/dashboard/shipments/{shipment_a.pk}/?q=ada"
    agent_client.get(url)
    with tenant_scope(tenant_a):
        WismoContact.objects.update(created_at=timezone.now() - timedelta(minutes=31))
    agent_client.get(url)
    signed_in(member(tenant_a, Role.AGENT, "other@alpha.example")).get(url)

    assert len(contacts(tenant_a)) == 3


def test_a_contact_remembers_that_the_shopper_had_been_emailed(agent_client, tenant_a, shipment_a):
    sent_email(tenant_a, shipment_a)

    agent_client.get(f"/dashboard/shipments/{shipment_a.pk}/?q=1001")

    assert contacts(tenant_a)[0].notified is True


def test_the_agent_says_how_the_shopper_asked(agent_client, tenant_a, shipment_a):
    agent_client.get(f"/dashboard/shipments/{shipment_a.pk}/?q=1001")

    response = agent_client.post(
        f"/dashboard/shipments/{shipment_a.pk}/contact/", {"channel": "phone", "q": "1001"}
    )

    assert response.status_code == 302
    [contact] = contacts(tenant_a)
    assert contact.channel == ContactChannel.PHONE


def test_logging_a_contact_by_hand_counts_one(agent_client, tenant_a, shipment_a):
    agent_client.post(f"/dashboard/shipments/{shipment_a.pk}/contact/", {"channel": "chat"})
    agent_client.post(f"/dashboard/shipments/{shipment_a.pk}/contact/", {"channel": "email"})

    [contact] = contacts(tenant_a)
    assert contact.channel == ContactChannel.EMAIL


@pytest.mark.parametrize("channel", ["", "fax", "helpdesk", "api"])
def test_a_bad_channel_is_refused(agent_client, tenant_a, shipment_a, channel):
    response = agent_client.post(
        f"/dashboard/shipments/{shipment_a.pk}/contact/", {"channel": channel}
    )

    assert response.status_code == 400
    assert contacts(tenant_a) == []


# --- ready reply ----------------------------------------------------------------------------


def test_the_reply_speaks_the_orders_language(tenant_a):
    with tenant_scope(tenant_a):
        order = OrderFactory(
            tenant=tenant_a, order_number="77", locale="it-IT", customer_name="Giulia Rossi"
        )
        shipment = ShipmentFactory(
            tenant=tenant_a,
            order=order,
            status="in_transit",
            substatus="in_transit.customs_processing",
            estimated_delivery=date(2026, 12, 3),
        )
        reply = ready_reply(shipment=shipment)

    assert reply.language == "it"
    assert "Ciao Giulia," in reply.text
    assert "ordine 77" in reply.text
    assert "Stato: In transito." in reply.text
    assert "sdoganamento" in reply.text
    assert "dicembre" in reply.text.lower()
    assert reply.tracking_url.endswith(f"/t/alpha/{shipment.public_token}/")
    assert reply.tracking_url in reply.text


def test_the_reply_falls_back_to_the_shops_language(tenant_a):
    tenant_a.default_language = "de"
    tenant_a.save()
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(
            tenant=tenant_a,
            order=OrderFactory(tenant=tenant_a, locale="", customer_name=""),
            status="delivered",
            substatus="delivered.neighbor",
            delivered_at=timezone.now(),
        )
        reply = ready_reply(shipment=shipment)

    assert reply.language == "de"
    assert reply.text.startswith("Guten Tag,")
    assert "Zugestellt" in reply.text
    assert "Nachbarn" in reply.text


@pytest.mark.parametrize(
    ("locale", "word"),
    [("en", "Expected delivery"), ("es", "Entrega prevista"), ("fr", "Livraison prévue")],
)
def test_the_reply_gives_the_expected_range(tenant_a, locale, word):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(
            tenant=tenant_a,
            order=OrderFactory(tenant=tenant_a, locale=locale),
            status="in_transit",
            substatus="in_transit.in_transit",
            estimated_delivery_earliest=date(2026, 12, 3),
            estimated_delivery_latest=date(2026, 12, 5),
        )
        reply = ready_reply(shipment=shipment)

    assert word in reply.text
    assert "3" in reply.text and "5" in reply.text


def test_the_reply_links_the_shops_own_domain(tenant_a, settings):
    tenant_a.custom_domain = "track.alpha.example"
    tenant_a.save()
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a)
        reply = ready_reply(shipment=shipment)

    assert reply.tracking_url == f"https://track.alpha.example/{shipment.public_token}/"
    assert reply.tracking_url in reply.text


def test_the_reply_links_the_platforms_page(tenant_a, settings):
    settings.WISMO_BASE_URL = "https://wismo.example"
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a)
        reply = ready_reply(shipment=shipment)

    assert reply.tracking_url == f"https://wismo.example/t/alpha/{shipment.public_token}/"


# --- actions --------------------------------------------------------------------------------


@pytest.fixture
def polls(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.poll_shipments, "apply_async", lambda kwargs: sent.append(kwargs))
    return sent


def test_retrack_asks_the_carrier_again_now(agent_client, tenant_a, polls):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(
            tenant=tenant_a, carrier="sandbox", is_active=False, next_poll_at=None
        )

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = agent_client.post(f"/dashboard/shipments/{shipment.pk}/retrack/")

    assert response.status_code == 302
    assert polls == [{"tenant_id": tenant_a.pk, "shipment_ids": [shipment.pk]}]
    with tenant_scope(tenant_a):
        shipment.refresh_from_db()
        assert shipment.is_active is True
        assert PollQueue.objects.filter(shipment=shipment).exists()


def test_retrack_of_a_manual_shipment_says_why_not(agent_client, shipment_a, polls):
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = agent_client.post(f"/dashboard/shipments/{shipment_a.pk}/retrack/", follow=True)

    assert "no API to ask" in response.content.decode()
    assert polls == []


def test_stop_tracking_takes_the_shipment_out_of_the_queue(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="sandbox")
        assert PollQueue.objects.filter(shipment=shipment).exists()

    response = agent_client.post(f"/dashboard/shipments/{shipment.pk}/stop/")

    assert response.status_code == 302
    with tenant_scope(tenant_a):
        shipment.refresh_from_db()
        assert (shipment.is_active, shipment.next_poll_at) == (False, None)
        assert not PollQueue.objects.filter(shipment=shipment).exists()
        # Idempotent.
        assert actions.shipments_stop_tracking(shipment_ids=[shipment.pk]) == 0


def test_bulk_actions_ignore_another_tenants_ids(tenant_a, tenant_b, shipment_b, polls):
    with tenant_scope(tenant_b):
        shipment = ShipmentFactory(tenant=tenant_b, carrier="sandbox")
    sent_email(tenant_b, shipment_b)

    with tenant_scope(tenant_a):
        assert actions.shipments_retrack(shipment_ids=[shipment.pk]) == 0
        assert actions.shipments_stop_tracking(shipment_ids=[shipment.pk]) == 0
        assert actions.shipments_resend(shipment_ids=[shipment_b.pk]) == 0

    with tenant_scope(tenant_b):
        shipment.refresh_from_db()
        assert shipment.is_active is True
        assert Notification.objects.count() == 1


def test_bulk_retrack_queues_one_poll_per_carrier_group(tenant_a, polls):
    with tenant_scope(tenant_a):
        ids = [ShipmentFactory(tenant=tenant_a, carrier="sandbox").pk for _ in range(3)]
        manual = ShipmentFactory(tenant=tenant_a, carrier="manual").pk
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert actions.shipments_retrack(shipment_ids=[*ids, manual]) == 3

    assert polls == [{"tenant_id": tenant_a.pk, "shipment_ids": sorted(ids)}]


def test_nothing_to_resend_before_any_email(agent_client, tenant_a, shipment_a):
    response = agent_client.post(f"/dashboard/shipments/{shipment_a.pk}/resend/", follow=True)

    assert "nothing to resend" in response.content.decode()
    with tenant_scope(tenant_a):
        assert not Notification.objects.exists()


def test_resend_queues_the_last_email_again_once(agent_client, tenant_a, shipment_a):
    original = sent_email(tenant_a, shipment_a)

    agent_client.post(f"/dashboard/shipments/{shipment_a.pk}/resend/")
    agent_client.post(f"/dashboard/shipments/{shipment_a.pk}/resend/")  # a second click

    with tenant_scope(tenant_a):
        resent = Notification.objects.exclude(pk=original.pk).get()
    assert resent.dedupe_key == f"{original.dedupe_key}:resend:1"
    assert (resent.state, resent.trigger, resent.recipient) == (
        "scheduled",
        "in_transit",
        "ada@example.com",
    )
    assert resent.send_after <= timezone.now()


def test_a_later_resend_is_a_new_email(tenant_a, shipment_a):
    original = sent_email(tenant_a, shipment_a)
    with tenant_scope(tenant_a):
        first = actions.notification_resend(shipment=shipment_a)
        Notification.objects.filter(pk=first.pk).update(state="sent", sent_at=timezone.now())
        second = actions.notification_resend(shipment=shipment_a)

    assert second.pk != first.pk
    assert second.dedupe_key == f"{original.dedupe_key}:resend:2"


def test_bulk_resend_counts_the_emails_queued(tenant_a, shipment_a):
    sent_email(tenant_a, shipment_a)
    with tenant_scope(tenant_a):
        silent = ShipmentFactory(tenant=tenant_a)
        assert actions.shipments_resend(shipment_ids=[shipment_a.pk, silent.pk]) == 1


def test_the_resent_email_goes_out_through_the_normal_sender(tenant_a, shipment_a, mailoutbox):
    from notifications.services.outbox import outbox_drain

    sent_email(tenant_a, shipment_a)
    with tenant_scope(tenant_a):
        actions.notification_resend(shipment=shipment_a)

    outbox_drain(limit=10)

    assert [m.to for m in mailoutbox] == [["ada@example.com"]]
    with tenant_scope(tenant_a):
        assert Notification.objects.filter(state="sent").count() == 2


def test_shipment_ids_must_exist(tenant_a):
    with tenant_scope(tenant_a):
        assert actions.shipments_retrack(shipment_ids=[]) == 0
        assert actions.shipments_stop_tracking(shipment_ids=[424242]) == 0
        assert actions.shipments_resend(shipment_ids=[424242]) == 0
        assert Shipment.objects.count() == 0


def test_an_email_stored_in_another_case_is_still_found(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(
            tenant=tenant_a,
            order=OrderFactory(tenant=tenant_a, customer_email="Mixed.Case@Example.com"),
        )

    assert shipment_ids(search(agent_client, "mixed.case@example.com")) == [shipment.pk]


def test_numbers_and_emails_never_scan_names(tenant_a, shipment_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with tenant_scope(tenant_a), CaptureQueriesContext(connection) as queries:
        selectors.search(q=shipment_a.tracking_number)
        selectors.search(q="1001")
        selectors.search(q="ADA@example.com")

    assert not [q["sql"] for q in queries.captured_queries if "LIKE" in q["sql"]]


def test_a_shipment_without_an_order_still_has_a_page_and_a_reply(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, order=None, tracking_number="LONE1")

    response = agent_client.get(f"/dashboard/shipments/{shipment.pk}/?q=LONE1")

    assert response.status_code == 200
    reply = response.context["reply"].text
    assert reply.startswith("Hello,")
    assert "your parcel" in reply
    assert [c.order_id for c in contacts(tenant_a)] == [None]


@pytest.mark.parametrize("q", ["a\x00b", "x" * 201])
def test_a_bad_search_carried_to_the_shipment_is_ignored(agent_client, tenant_a, shipment_a, q):
    response = agent_client.get(f"/dashboard/shipments/{shipment_a.pk}/", {"q": q})

    assert response.status_code == 200
    assert contacts(tenant_a) == []


def test_a_search_with_a_nul_character_is_refused(agent_client, shipment_a):
    assert search(agent_client, "10\x0001").status_code == 400
