"""Polling a real adapter (DHL Unified) against the local fake carrier, with its failures."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from tests.factories import CarrierAccountFactory, ShipmentFactory
from tests.fakes.carrier_server import Reply, fixture_text, json_file
from wismo.tracking.models import Shipment, TrackingEvent, UnmappedCarrierCode
from wismo.tracking.services import polling

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _recorded_dates_are_not_stale(settings):
    # The recorded responses are from 2025: keep them inside the tracking window.
    settings.WISMO_TRACKING_WINDOW_DAYS = 3650


@pytest.fixture
def dhl_account(scope_a, carrier_server):
    return CarrierAccountFactory(
        tenant=scope_a,
        carrier="dhl",
        credentials={"api_key": "key-a", "base_url": carrier_server.url},
    )


def dhl_shipment(tenant, account, number="1234567890"):
    return ShipmentFactory(
        tenant=tenant,
        carrier="dhl",
        carrier_account=account,
        tracking_number=number,
        next_poll_at=timezone.now() - timedelta(minutes=1),
    )


def test_a_poll_records_the_carriers_timeline_and_estimate(scope_a, dhl_account, carrier_server):
    carrier_server.route("GET", r"^/track/shipments$", json_file("dhl/transit.json"))
    shipment = dhl_shipment(scope_a, dhl_account)

    summary = polling.poll_shipments(shipment_ids=[shipment.pk])

    shipment.refresh_from_db()
    assert summary == {"polled": 1, "events": 3, "errors": 0}
    assert (shipment.status, shipment.substatus) == (
        "out_for_delivery",
        "out_for_delivery.out_for_delivery",
    )
    assert (shipment.estimated_delivery, shipment.estimated_delivery_source) == (
        date(2025, 3, 5),
        "carrier",
    )
    assert carrier_server.requests[0].headers["dhl-api-key"] == "key-a"
    # Out for delivery is checked again within about an hour.
    assert shipment.next_poll_at - timezone.now() < timedelta(minutes=70)


def test_a_second_identical_answer_adds_nothing_and_backs_off(scope_a, dhl_account, carrier_server):
    carrier_server.route("GET", r"^/track/shipments$", json_file("dhl/transit.json"))
    shipment = dhl_shipment(scope_a, dhl_account)
    polling.poll_shipments(shipment_ids=[shipment.pk])
    polling.poll_shipments(shipment_ids=[shipment.pk])
    shipment.refresh_from_db()
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 3
    assert shipment.unchanged_polls == 1


def test_retry_after_is_honoured_by_every_later_poll_of_the_account(
    scope_a, dhl_account, carrier_server
):
    carrier_server.route("GET", r"^/track/shipments$", json_file("dhl/transit.json"))
    carrier_server.fail_next(429, headers={"Retry-After": "120"})
    first, second = (
        dhl_shipment(scope_a, dhl_account, "111"),
        dhl_shipment(scope_a, dhl_account, "222"),
    )

    polling.poll_shipments(shipment_ids=[first.pk])
    polling.poll_shipments(shipment_ids=[second.pk])

    assert len(carrier_server.requests) == 1, "no request before the carrier's Retry-After"
    for shipment in (first, second):
        shipment.refresh_from_db()
        assert shipment.last_error_code == "rate_limited"
        assert shipment.next_poll_at >= timezone.now() + timedelta(seconds=110)


def test_a_rate_limit_is_no_failure_and_asks_again_when_allowed(
    scope_a, dhl_account, carrier_server
):
    """Found by bench/faults: a poll refused by the account's own bucket was backed off like a
    failing carrier (30 minutes to hours). A rate limit asks again when allowed, spread over a
    minute, and counts no failure."""
    carrier_server.route("GET", r"^/track/shipments$", json_file("dhl/transit.json"))
    carrier_server.fail_next(429, headers={"Retry-After": "300"})
    shipment = dhl_shipment(scope_a, dhl_account, "333")

    polling.poll_shipments(shipment_ids=[shipment.pk])

    shipment.refresh_from_db()
    wait = shipment.next_poll_at - timezone.now()
    assert shipment.last_error_code == "rate_limited" and shipment.poll_failures == 0
    assert timedelta(seconds=290) <= wait <= timedelta(seconds=361)


def test_the_accounts_own_bucket_refusing_asks_again_within_two_minutes(
    scope_a, dhl_account, carrier_server, monkeypatch
):
    from carriers.http import TransientError
    from wismo.tracking.services.throttle import AccountThrottle

    def full(self):
        raise TransientError("rate limit of dhl: next slot in 0.1 s", status=429, retry_after=0.1)

    monkeypatch.setattr(AccountThrottle, "acquire", full)
    shipment = dhl_shipment(scope_a, dhl_account, "444")

    polling.poll_shipments(shipment_ids=[shipment.pk])

    shipment.refresh_from_db()
    wait = shipment.next_poll_at - timezone.now()
    assert shipment.last_error_code == "rate_limited" and shipment.poll_failures == 0
    assert timedelta(seconds=50) <= wait <= timedelta(seconds=121)
    assert carrier_server.requests == []


def test_a_carrier_that_fails_a_request_is_not_asked_the_rest_of_the_round(
    scope_a, dhl_account, carrier_server
):
    """Found by bench/faults: a stalled carrier held the worker for every chunk of the group in
    turn (a read timeout each), slowing every other carrier. Once one request of the round
    fails, the chunks still waiting for a thread fail at once, unasked."""
    from tests.fakes.carrier_server import Reply
    from wismo.tracking.services.polling import _executor

    threads = _executor()._max_workers
    carrier_server.latency = 0.3  # every request in flight long enough for the flag to matter
    carrier_server.route("GET", r"^/track/shipments$", Reply(status=503))
    shipments = [dhl_shipment(scope_a, dhl_account, f"77{i:03d}") for i in range(threads * 3)]

    polling.poll_shipments(shipment_ids=[s.pk for s in shipments])

    assert 1 <= len(carrier_server.requests) <= threads < len(shipments)
    for shipment in shipments:  # (the account's own bucket may refuse some before they fail)
        shipment.refresh_from_db()
        assert shipment.last_error_code in ("carrier_unavailable", "rate_limited")
        assert shipment.next_poll_at > timezone.now()


def test_a_failing_carrier_trips_its_breaker_and_is_left_alone(
    scope_a, dhl_account, carrier_server
):
    carrier_server.fail_next(503, times=10)
    shipments = [dhl_shipment(scope_a, dhl_account, f"90{i}") for i in range(6)]

    for shipment in shipments[:5]:
        polling.poll_shipments(shipment_ids=[shipment.pk])
    asked = len(carrier_server.requests)
    summary = polling.poll_shipments(shipment_ids=[shipments[5].pk])

    assert asked == 5
    assert len(carrier_server.requests) == 5, "the open breaker kept the sixth poll off the carrier"
    assert summary["skipped"] == 1
    shipments[5].refresh_from_db()
    assert shipments[5].next_poll_at > timezone.now()


def test_refused_credentials_are_recorded_for_the_merchant(scope_a, dhl_account, carrier_server):
    carrier_server.fail_next(401)
    shipment = dhl_shipment(scope_a, dhl_account)
    polling.poll_shipments(shipment_ids=[shipment.pk])
    shipment.refresh_from_db()
    assert shipment.last_error_code == "credentials_refused"
    assert shipment.is_active


def test_an_unknown_number_is_recorded_and_asked_about_less_often(
    scope_a, dhl_account, carrier_server
):
    carrier_server.route(
        "GET", r"^/track/shipments$", Reply(status=404, body=fixture_text("dhl/not_found.json"))
    )
    shipment = dhl_shipment(scope_a, dhl_account)
    polling.poll_shipments(shipment_ids=[shipment.pk])
    shipment.refresh_from_db()
    assert (shipment.last_error_code, shipment.poll_failures) == ("not_found", 1)
    assert shipment.next_poll_at - timezone.now() > timedelta(hours=1)


def test_unmapped_codes_are_counted_per_carrier(scope_a, dhl_account, carrier_server):
    carrier_server.route("GET", r"^/track/shipments$", json_file("dhl/failure.json"))
    polling.poll_shipments(shipment_ids=[dhl_shipment(scope_a, dhl_account, "JJD0099999999").pk])
    polling.poll_shipments(shipment_ids=[dhl_shipment(scope_a, dhl_account, "JJD0099999998").pk])

    unmapped = UnmappedCarrierCode.objects.get(carrier="dhl", code="warp")
    assert unmapped.count == 2
    assert unmapped.mapped_to == "in_transit.in_transit"


def test_a_black_hole_carrier_is_a_transient_error_not_a_stuck_worker(
    scope_a, dhl_account, carrier_server, monkeypatch
):
    from carriers.http import HttpClient

    monkeypatch.setattr(polling, "http_client", lambda: HttpClient(timeout=(1, 0.5)))
    carrier_server.blackhole_next()
    shipment = dhl_shipment(scope_a, dhl_account)
    polling.poll_shipments(shipment_ids=[shipment.pk])
    shipment.refresh_from_db()
    assert shipment.last_error_code == "carrier_unavailable"
    assert Shipment.objects.get(pk=shipment.pk).next_poll_at > timezone.now()


def test_retrack_makes_a_stopped_shipment_due_now(scope_a, dhl_account):
    shipment = dhl_shipment(scope_a, dhl_account)
    Shipment.objects.filter(pk=shipment.pk).update(is_active=False, next_poll_at=None)
    polling.shipment_retrack(shipment=shipment)
    assert shipment.is_active and shipment.next_poll_at <= timezone.now()


def test_a_429_storm_on_one_account_never_slows_another(scope_a, dhl_account, carrier_server):
    from tests.fakes.carrier_server import FakeCarrierServer

    carrier_server.route(
        "GET", r"^/track/shipments$", Reply(status=429, headers={"Retry-After": "60"})
    )
    with FakeCarrierServer() as healthy:
        healthy.route("GET", r"^/track/shipments$", json_file("dhl/transit.json"))
        other = CarrierAccountFactory(
            tenant=scope_a,
            carrier="dhl",
            credentials={"base_url": healthy.url, "rate_per_second": 100},
        )
        stormy = [dhl_shipment(scope_a, dhl_account, f"5{i}") for i in range(5)]
        calm = [dhl_shipment(scope_a, other, f"6{i}") for i in range(5)]

        for mine, theirs in zip(stormy, calm, strict=True):
            polling.poll_shipments(shipment_ids=[mine.pk])
            polling.poll_shipments(shipment_ids=[theirs.pk])

        assert len(carrier_server.requests) == 1, (
            "no request to the limited account before Retry-After"
        )
        assert len(healthy.requests) == 5, "the other account kept its pace"
        assert all(Shipment.objects.get(pk=s.pk).last_error_code == "rate_limited" for s in stormy)
        assert all(Shipment.objects.get(pk=s.pk).last_error_code == "" for s in calm)


def test_rate_limits_never_trip_the_carriers_breaker(scope_a, dhl_account, carrier_server):
    carrier_server.route(
        "GET", r"^/track/shipments$", Reply(status=429, headers={"Retry-After": "1"})
    )
    for i in range(8):
        polling.poll_shipments(shipment_ids=[dhl_shipment(scope_a, dhl_account, f"8{i}").pk])
    from wismo.tracking.services.throttle import CircuitBreaker

    assert CircuitBreaker("dhl").open_for() == 0
