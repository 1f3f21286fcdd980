"""Delivery dates on the database: fitting, the timeline hook, flags, notices, the API, commands."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from carriers.base import CarrierEvent
from tenants.scoping import all_tenants, tenant_scope
from tests.factories import OrderFactory, ShipmentFactory, TenantFactory
from wismo.tracking.edd.calendar import MONDAY_TO_FRIDAY, calendar, zone
from wismo.tracking.models import (
    EddModel,
    EddPrior,
    Shipment,
    ShipmentStatusChange,
    TrackingEvent,
)
from wismo.tracking.services import edd
from wismo.tracking.services.timeline import record_events

pytestmark = pytest.mark.django_db

ITALY = calendar("IT", MONDAY_TO_FRIDAY)


@pytest.fixture(autouse=True)
def _fresh_predictors():
    edd.reset_cache()
    yield
    edd.reset_cache()


def rome(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour)).replace(tzinfo=zone("IT"))


def deliver_history(
    tenant,
    count: int,
    *,
    days: int,
    carrier: str = "dpd",
    destination: str = "IT",
    postcode: str = "20121",
    weeks_ago: int = 12,
    spread: int = 30,
    prefix: str = "H",
) -> None:
    """``count`` parcels shipped on business days starting ``weeks_ago`` weeks back (10:00 in
    Rome, before the cut-off), each scanned, out for delivery and delivered ``days`` business
    days later."""
    start = ITALY.on_or_after(timezone.localdate() - timedelta(weeks=weeks_ago))
    cal = calendar(destination, MONDAY_TO_FRIDAY)
    with tenant_scope(tenant):
        shipments = []
        for i in range(count):
            shipped_day = ITALY.add(start, i % spread)
            delivered_day = cal.add(shipped_day, days)
            shipments.append(
                Shipment(
                    tenant=tenant,
                    carrier=carrier,
                    tracking_number=f"{prefix}{tenant.pk}X{i:05d}",
                    status="delivered",
                    substatus="delivered.delivered",
                    destination_country=destination,
                    destination_postcode=postcode,
                    origin_country="IT",
                    shipped_at=rome(shipped_day, 10),
                    delivered_at=rome(delivered_day, 14),
                    last_event_at=rome(delivered_day, 14),
                    is_active=False,
                    next_poll_at=None,
                )
            )
        Shipment.objects.bulk_create(shipments)
        events = []
        for s in shipments:
            for n, (moment, status, substatus) in enumerate(
                [
                    (s.shipped_at + timedelta(hours=3), "in_transit", "in_transit.picked_up"),
                    (s.delivered_at - timedelta(hours=6), "out_for_delivery",
                     "out_for_delivery.out_for_delivery"),
                    (s.delivered_at, "delivered", "delivered.delivered"),
                ]
            ):  # fmt: skip
                events.append(
                    TrackingEvent(
                        tenant=tenant,
                        shipment=s,
                        occurred_at=moment,
                        status=status,
                        substatus=substatus,
                        dedupe_key=f"{s.pk}-{n}",
                    )
                )
        TrackingEvent.objects.bulk_create(events)


def new_parcel(tenant, *, number: str = "LIVE1", shipped_at: datetime | None = None, **fields):
    with tenant_scope(tenant):
        return ShipmentFactory(
            tenant=tenant,
            carrier=fields.pop("carrier", "dpd"),
            tracking_number=number,
            destination_country=fields.pop("destination_country", "IT"),
            destination_postcode=fields.pop("destination_postcode", "20121"),
            origin_country="IT",
            shipped_at=shipped_at or timezone.now(),
            **fields,
        )


def scan(shipment, moment: datetime, status: str = "in_transit", substatus: str = "", code="X"):
    with tenant_scope(shipment.tenant_id):
        record_events(
            shipment=shipment,
            events=[CarrierEvent(moment, status, substatus, code, status, "Milano, IT")],
        )
        shipment.refresh_from_db()
    return shipment


def delays(shipment) -> list[dict]:
    with tenant_scope(shipment.tenant_id):
        return list(
            ShipmentStatusChange.objects.filter(shipment=shipment, kind="delay")
            .order_by("pk")
            .values_list("detail", flat=True)
        )


def refreshed(shipment, now: datetime, *, sweep: bool = True) -> Shipment:
    with tenant_scope(shipment.tenant_id):
        if sweep:
            edd._refresh([shipment.pk], timelines=None, now=now, sweep=True)
        else:
            edd.shipments_refresh(shipment_ids=[shipment.pk], now=now)
        shipment.refresh_from_db()
    return shipment


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# --- fitting ------------------------------------------------------------------------------------


def test_a_fit_learns_from_the_tenant_s_delivered_parcels_and_versions_the_model(tenant_a):
    deliver_history(tenant_a, 60, days=2)

    first = edd.edd_fit(tenant=tenant_a)
    second = edd.edd_fit(tenant=tenant_a)

    assert (first.samples, first.version, second.version) == (60, 1, 2)
    with tenant_scope(tenant_a):
        stored = EddModel.objects.get()
    assert stored.samples == 60 and stored.version == 2
    assert stored.data["hists"]["shipped"]["dpd||IT|IT|20"][2] > 50
    assert "dpd|IT|in_transit" in stored.data["gaps"]  # the scan-gap percentile, from SQL


def test_a_fit_reads_only_its_own_tenant(tenant_a, tenant_b):
    deliver_history(tenant_a, 40, days=2)
    deliver_history(tenant_b, 70, days=5)

    assert edd.edd_fit(tenant=tenant_a).samples == 40
    with tenant_scope(tenant_a):
        hist = EddModel.objects.get().data["hists"]["shipped"]["*|*|*|*|*"]
    assert len(hist) == 3  # 0, 1, 2 business days: nothing of tenant B's five-day parcels


# --- predictions on shipments -------------------------------------------------------------------


def test_a_new_scan_puts_a_predicted_range_on_the_shipment(tenant_a, api_a):
    deliver_history(tenant_a, 80, days=2)
    edd.edd_fit(tenant=tenant_a)
    parcel = new_parcel(tenant_a)

    parcel = scan(parcel, timezone.now(), "in_transit", "in_transit.picked_up")

    assert parcel.estimated_delivery_source == "predicted"
    assert parcel.estimated_delivery_earliest <= parcel.estimated_delivery
    assert parcel.estimated_delivery <= parcel.estimated_delivery_latest
    assert parcel.estimated_delivery >= timezone.localdate()
    assert 0 < parcel.estimated_delivery_confidence <= 1
    assert parcel.promised_delivery == parcel.estimated_delivery_latest
    body = api_a.get(f"/api/v1/shipments/{parcel.pk}/").json()
    assert body["estimated_delivery"] == parcel.estimated_delivery.isoformat()
    assert body["estimated_delivery_range"] == {
        "earliest": parcel.estimated_delivery_earliest.isoformat(),
        "latest": parcel.estimated_delivery_latest.isoformat(),
        "source": "predicted",
        "confidence": parcel.estimated_delivery_confidence,
    }


def test_a_carrier_s_own_estimate_is_kept_and_said_to_be_the_carrier_s(tenant_a, api_a):
    deliver_history(tenant_a, 80, days=2)
    edd.edd_fit(tenant=tenant_a)
    promised = timezone.localdate() + timedelta(days=9)
    parcel = new_parcel(
        tenant_a,
        estimated_delivery=promised,
        estimated_delivery_earliest=promised,
        estimated_delivery_latest=promised,
        estimated_delivery_source="carrier",
    )

    parcel = scan(parcel, timezone.now(), "in_transit", "in_transit.picked_up")

    assert (parcel.estimated_delivery, parcel.estimated_delivery_source) == (promised, "carrier")
    body = api_a.get(f"/api/v1/shipments/{parcel.pk}/").json()
    assert body["estimated_delivery_range"]["source"] == "carrier"
    assert body["estimated_delivery"] == promised.isoformat()


def test_carrier_estimate_apply_takes_over_from_a_prediction(tenant_a):
    parcel = new_parcel(
        tenant_a,
        estimated_delivery=date(2026, 12, 2),
        estimated_delivery_earliest=date(2026, 12, 1),
        estimated_delivery_latest=date(2026, 12, 3),
        estimated_delivery_source="predicted",
        promised_delivery=date(2026, 12, 3),
    )

    fields = edd.carrier_estimate_apply(
        shipment=parcel, estimated=date(2026, 12, 4), earliest=None, latest=None
    )

    assert "promised_delivery" in fields
    assert (parcel.estimated_delivery_source, parcel.promised_delivery) == (
        "carrier",
        date(2026, 12, 4),
    )


def test_arrival_in_the_destination_country_narrows_the_range(tenant_a):
    # International history: DPD Italy -> Germany, 3 to 7 business days, arriving the day before.
    start = ITALY.on_or_after(timezone.localdate() - timedelta(weeks=14))
    germany = calendar("DE", MONDAY_TO_FRIDAY)
    with tenant_scope(tenant_a):
        for i in range(150):
            shipped = ITALY.add(start, i % 40)
            taken = 3 + i % 5
            delivered = germany.add(shipped, taken)
            s = Shipment.objects.create(
                tenant=tenant_a, carrier="dpd", tracking_number=f"DE{i:04d}", status="delivered",
                substatus="delivered.delivered", destination_country="DE",
                destination_postcode="10115", origin_country="IT",
                shipped_at=rome(shipped, 10), delivered_at=rome(delivered, 14), is_active=False,
            )  # fmt: skip
            for n, (moment, status, substatus) in enumerate(
                [
                    (rome(shipped, 13), "in_transit", "in_transit.picked_up"),
                    (rome(germany.add(shipped, taken - 1), 6), "in_transit",
                     "in_transit.arrived_destination_country"),
                    (rome(delivered, 14), "delivered", "delivered.delivered"),
                ]
            ):  # fmt: skip
                TrackingEvent.objects.create(
                    tenant=tenant_a, shipment=s, occurred_at=moment, status=status,
                    substatus=substatus, dedupe_key=f"{i}-{n}",
                )  # fmt: skip
    edd.edd_fit(tenant=tenant_a)
    parcel = new_parcel(tenant_a, destination_country="DE", destination_postcode="10117")
    now = timezone.now()

    picked = scan(parcel, now - timedelta(minutes=2), "in_transit", "in_transit.picked_up")
    width_before = (picked.estimated_delivery_latest - picked.estimated_delivery_earliest).days
    confidence_before = picked.estimated_delivery_confidence
    arrived = scan(parcel, now - timedelta(minutes=1), "in_transit",
                   "in_transit.arrived_destination_country", code="ARR")  # fmt: skip
    width_after = (arrived.estimated_delivery_latest - arrived.estimated_delivery_earliest).days

    assert width_after < width_before
    assert arrived.estimated_delivery_confidence > confidence_before


def test_no_model_and_no_prior_leaves_the_date_empty(tenant_a):
    parcel = scan(new_parcel(tenant_a), timezone.now(), "in_transit", "in_transit.picked_up")

    assert parcel.estimated_delivery is None and parcel.estimated_delivery_source == ""


# --- flags and notices --------------------------------------------------------------------------


def test_a_date_that_passes_without_delivery_flags_a_delay_once_per_new_date(tenant_a):
    deliver_history(tenant_a, 80, days=2)
    edd.edd_fit(tenant=tenant_a)
    parcel = scan(new_parcel(tenant_a), timezone.now(), "in_transit", "in_transit.picked_up")
    promised = parcel.promised_delivery
    a_week_later = timezone.now() + timedelta(days=7)

    late = refreshed(parcel, a_week_later)
    expected = late.estimated_delivery

    assert late.is_delayed and late.flagged_at is not None
    assert expected > promised
    assert late.promised_delivery == promised  # the promise stays what the shopper was told
    assert [d for d in delays(parcel) if d["reason"] == "slipped"] == [
        {"reason": "slipped", "expected": expected.isoformat(), "previous": promised.isoformat()}
    ]
    again = refreshed(parcel, a_week_later + timedelta(hours=1))
    assert again.is_delayed and again.estimated_delivery == expected
    assert [d["reason"] for d in delays(parcel)].count("slipped") == 1


def test_a_delivery_clears_the_delay_flag(tenant_a):
    deliver_history(tenant_a, 80, days=2)
    edd.edd_fit(tenant=tenant_a)
    parcel = scan(new_parcel(tenant_a), timezone.now(), "in_transit", "in_transit.picked_up")
    parcel = refreshed(parcel, timezone.now() + timedelta(days=7))
    assert parcel.is_delayed

    parcel = scan(parcel, timezone.now() + timedelta(minutes=1), "delivered", "delivered.signed")

    assert (parcel.is_delayed, parcel.is_stalled, parcel.never_scanned) == (False, False, False)
    assert parcel.flagged_at is None


def test_a_quiet_parcel_is_flagged_stalled_once_and_cleared_by_the_next_scan(tenant_a):
    parcel = scan(new_parcel(tenant_a), timezone.now() - timedelta(days=6), "in_transit",
                  "in_transit.picked_up")  # fmt: skip
    assert not parcel.is_stalled  # a scan never raises a stall: the sweep does

    stalled = refreshed(parcel, timezone.now()).is_stalled
    refreshed(parcel, timezone.now() + timedelta(hours=1))

    assert stalled
    assert [d["reason"] for d in delays(parcel)] == ["stuck"]

    moving = scan(parcel, timezone.now(), "in_transit", "in_transit.arrived_at_facility", code="A")
    assert not moving.is_stalled and moving.flagged_at is None


def test_the_stall_threshold_follows_the_tenant_s_history_of_gaps(tenant_a):
    # Picked up at 13:00, out for delivery two days later at 08:00: gaps of ~43 hours (p95 44).
    deliver_history(tenant_a, 60, days=2)
    edd.edd_fit(tenant=tenant_a)
    predictor = edd.predictor_for(tenant_a.pk)

    limit = predictor.stall_after("dpd", "IT", "in_transit")

    assert timedelta(hours=40) < limit < timedelta(hours=96)
    assert predictor.stall_after("gls", "IT", "in_transit") == timedelta(hours=96)  # default
    assert predictor.stall_after("dpd", "IT", "available_for_pickup") is None


def test_a_label_never_scanned_is_flagged_after_n_business_days(tenant_a, settings):
    settings.WISMO_EDD_NEVER_SCANNED_DAYS = 3
    monday = ITALY.on_or_after(date(2026, 11, 16))
    parcel = new_parcel(tenant_a, shipped_at=rome(monday, 10))
    parcel = scan(parcel, rome(monday, 10), "info_received", "info_received.label_created")

    on_wednesday = refreshed(parcel, rome(date(2026, 11, 18), 12)).never_scanned
    on_thursday = refreshed(parcel, rome(date(2026, 11, 19), 12))

    assert not on_wednesday
    assert on_thursday.never_scanned and on_thursday.flagged_at == rome(date(2026, 11, 19), 12)
    scanned = scan(parcel, rome(date(2026, 11, 19), 13), "in_transit", "in_transit.picked_up")
    assert not scanned.never_scanned


def test_the_sweep_finds_quiet_parcels_of_every_tenant(tenant_a, tenant_b):
    quiet_a = scan(new_parcel(tenant_a), timezone.now() - timedelta(days=6), "in_transit",
                   "in_transit.picked_up")  # fmt: skip
    quiet_b = scan(new_parcel(tenant_b), timezone.now() - timedelta(days=6), "in_transit",
                   "in_transit.picked_up")  # fmt: skip
    fresh = scan(new_parcel(tenant_a, number="FRESH"), timezone.now(), "in_transit",
                 "in_transit.picked_up")  # fmt: skip

    totals = edd.edd_sweep()

    with all_tenants():
        stalled = dict(Shipment.objects.values_list("pk", "is_stalled"))
    assert (stalled[quiet_a.pk], stalled[quiet_b.pk], stalled[fresh.pk]) == (True, True, False)
    assert totals["checked"] == 2 and totals["notices"] == 2


def test_orders_not_shipped_after_n_days(tenant_a):
    with tenant_scope(tenant_a):
        waiting = OrderFactory(tenant=tenant_a, placed_at=timezone.now() - timedelta(days=5))
        shipped = OrderFactory(tenant=tenant_a, placed_at=timezone.now() - timedelta(days=5))
        ShipmentFactory(tenant=tenant_a, order=shipped)
        OrderFactory(tenant=tenant_a, placed_at=timezone.now() - timedelta(days=1))
        OrderFactory(
            tenant=tenant_a,
            placed_at=timezone.now() - timedelta(days=9),
            cancelled_at=timezone.now(),
        )

        assert list(edd.unshipped_orders(days=3)) == [waiting]


# --- the prior never exposes a tenant -----------------------------------------------------------


def _predict(tenant, *, postcode: str = "20121") -> tuple:
    number = f"P{postcode}N{Shipment.objects.with_scope(tenant=tenant.pk).count()}"
    parcel = new_parcel(tenant, number=number, destination_postcode=postcode,
                        shipped_at=rome(date(2026, 11, 16), 10))  # fmt: skip
    found = edd.shipment_prediction(parcel, timeline=[], now=rome(date(2026, 11, 16), 10))
    return None if found is None else (found.estimated, found.earliest, found.latest)


def test_another_tenant_s_new_data_changes_nothing_in_a_tenant_s_predictions(tenant_a, tenant_b):
    deliver_history(tenant_a, 80, days=2)
    deliver_history(tenant_b, 80, days=2)
    edd.edd_fit(tenant=tenant_a)
    edd.edd_fit(tenant=tenant_b)
    before = _predict(tenant_a)

    deliver_history(tenant_b, 300, days=6, prefix="SLOW")
    edd.edd_fit(tenant=tenant_b)
    edd.edd_prior_fit()  # two tenants: too few for the prior to hold anything
    edd.reset_cache()

    assert _predict(tenant_a) == before
    assert EddPrior.objects.get().data["hists"] == {}


def test_a_new_tenant_gets_the_prior_and_nothing_finer_than_it(tenant_a, tenant_b):
    tenant_c = TenantFactory(slug="charlie")
    newcomer = TenantFactory(slug="delta")
    deliver_history(tenant_a, 80, days=2)
    deliver_history(tenant_b, 80, days=2)
    # Only tenant C ships to the 90 area, and slowly: that must not show through the prior.
    deliver_history(tenant_c, 80, days=2)
    deliver_history(tenant_c, 200, days=7, postcode="90100", prefix="PA")
    for tenant in (tenant_a, tenant_b, tenant_c):
        edd.edd_fit(tenant=tenant)
    assert _predict(newcomer) is None  # no prior yet

    prior = edd.edd_prior_fit()

    assert prior.tenants == 3
    assert "90" not in str(sorted(k for g in prior.data["hists"].values() for k in g))
    to_milan, to_palermo = _predict(newcomer), _predict(newcomer, postcode="90100")
    assert to_milan == to_palermo  # the prior cannot tell areas apart: it holds none
    assert to_milan is not None


# --- commands -----------------------------------------------------------------------------------


def test_edd_fit_command_fits_one_tenant(tenant_a):
    deliver_history(tenant_a, 40, days=2)

    out = run("edd", "fit", "--tenant", "alpha")

    assert out.startswith("alpha: fitted on 40 delivered parcels in ")
    assert "model v1" in out


def test_edd_fit_command_without_tenant_fits_all_and_the_prior(tenant_a, tenant_b):
    deliver_history(tenant_a, 40, days=2)

    out = run("edd", "fit")

    assert "alpha: fitted on 40" in out and "bravo: fitted on 0" in out
    assert "prior: 0 groups shared by at least 3 of 1 tenants" in out


def test_edd_backtest_command_prints_hit_rates_and_mae(tenant_a):
    deliver_history(tenant_a, 200, days=2, weeks_ago=24, spread=110)

    out = run("edd", "backtest", "--tenant", "alpha", "--months", "3")

    lines = out.splitlines()
    assert lines[0].startswith("alpha: backtest, monthly folds: ")
    overall = next(line for line in lines if line.strip().startswith("overall"))
    assert "range hit" in overall and "exact day" in overall and "MAE" in overall
    assert any(line.strip().startswith("carrier dpd") for line in lines)
    assert any(line.strip().startswith("lane IT->IT") for line in lines)
    assert any("naive baseline" in line for line in lines)
    with tenant_scope(tenant_a):
        assert EddModel.objects.get().accuracy["overall"]["n"] > 0


def test_edd_commands_refuse_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        run("edd", "fit", "--tenant", "nope")


def test_a_fault_in_the_estimator_never_costs_the_carrier_s_events(tenant_a, monkeypatch):
    parcel = new_parcel(tenant_a)

    def broken(*args, **kwargs):
        raise RuntimeError("estimator bug")

    monkeypatch.setattr(edd, "_refresh", broken)
    parcel = scan(parcel, timezone.now(), "in_transit", "in_transit.picked_up")

    assert parcel.status == "in_transit"
    with tenant_scope(tenant_a):
        assert TrackingEvent.objects.filter(shipment=parcel).count() == 1
