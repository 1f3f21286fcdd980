"""The merchant's shipment list: filters, sorts, keyset pages, saved views, CSV export, bulk."""

from __future__ import annotations

import csv
import io
import sys
import types
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import signing
from django.http import StreamingHttpResponse

from dashboard.models import SavedView
from dashboard.selectors.shipments import CURSOR_SALT, SORTS, shipment_page
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.dashboard.conftest import member, signed_in
from tests.factories import OrderFactory, ShipmentFactory, ShopConnectionFactory
from wismo.tracking.models import Shipment

URL = "/dashboard/shipments/"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def rows_of(response) -> list[int]:
    return [s.pk for s in response.context["page"].rows]


def make(tenant, n: int = 1, **fields) -> list[Shipment]:
    with tenant_scope(tenant):
        made = []
        for _ in range(n):
            kwargs = {"carrier": "manual", **fields}
            made.append(ShipmentFactory(tenant=tenant, **kwargs))
        return made


@pytest.fixture
def mixed(tenant_a):
    """A handful of tenant A parcels, each picked out by exactly one filter."""
    with tenant_scope(tenant_a):
        store = ShopConnectionFactory(tenant=tenant_a, name="EU store")
        base = {"tenant": tenant_a, "carrier": "manual", "status": "in_transit"}
        out = {
            "plain": ShipmentFactory(**base, created_at=T0),
            "dhl": ShipmentFactory(**{**base, "carrier": "dhl"}, created_at=T0 + timedelta(1)),
            "delivered": ShipmentFactory(
                **{**base, "status": "delivered"},
                substatus="delivered.signed",
                created_at=T0 + timedelta(2),
            ),
            "customs": ShipmentFactory(
                **{**base, "status": "exception"},
                substatus="exception.customs_hold",
                action_required=True,
                created_at=T0 + timedelta(3),
            ),
            "delayed": ShipmentFactory(**base, is_delayed=True, created_at=T0 + timedelta(4)),
            "stalled": ShipmentFactory(**base, is_stalled=True, created_at=T0 + timedelta(5)),
            "store": ShipmentFactory(**base, store=store, created_at=T0 + timedelta(6)),
            "fr": ShipmentFactory(**base, destination_country="FR", created_at=T0 + timedelta(7)),
            "shipped": ShipmentFactory(
                **base,
                shipped_at=datetime(2026, 10, 1, 12, tzinfo=UTC),
                created_at=T0 + timedelta(8),
            ),
        }
        out["store_id"] = store.pk
        return out


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("carrier=dhl", "dhl"),
        ("status=delivered", "delivered"),
        ("substatus=exception.customs_hold", "customs"),
        ("exception=true", "customs"),
        ("action_required=true", "customs"),
        ("delayed=true", "delayed"),
        ("stalled=true", "stalled"),
        ("destination_country=fr", "fr"),
        ("shipped_from=2026-10-01&shipped_to=2026-10-01", "shipped"),
        ("created_from=2026-11-05&created_to=2026-11-05", "customs"),
    ],
)
def test_each_filter_picks_its_shipment(agent_client, mixed, query, key):
    response = agent_client.get(f"{URL}?{query}")
    assert response.status_code == 200
    assert rows_of(response) == [mixed[key].pk]


def test_store_filter(agent_client, mixed):
    response = agent_client.get(f"{URL}?store={mixed['store_id']}")
    assert rows_of(response) == [mixed["store"].pk]


def test_search_by_tracking_and_order_number_exact(agent_client, tenant_a, shipment_a):
    make(tenant_a, 2)
    by_number = agent_client.get(f"{URL}?q={shipment_a.tracking_number.lower()}")
    by_order = agent_client.get(f"{URL}?q=1001")
    partial = agent_client.get(f"{URL}?q=100")
    assert rows_of(by_number) == [shipment_a.pk]
    assert rows_of(by_order) == [shipment_a.pk]
    assert rows_of(partial) == []


def test_rows_link_to_detail_and_escape_merchant_data(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        order = OrderFactory(tenant=tenant_a, order_number="<script>x</script>")
        (shipment,) = [ShipmentFactory(tenant=tenant_a, carrier="manual", order=order)]
    response = agent_client.get(URL)
    body = response.content.decode()
    assert f'href="/dashboard/shipments/{shipment.pk}/"' in body
    assert "<script>x</script>" not in body
    assert "&lt;script&gt;x&lt;/script&gt;" in body


def test_bad_filter_value_is_400(agent_client, mixed):
    for query in (
        "status=nope",
        "created_from=2026-13-45",
        "store=abc",
        "store=99999999999999999999999",
        "store=1.5",
        "q=%00",
        "sort=sideways",
    ):
        response = agent_client.get(f"{URL}?{query}")
        assert response.status_code == 400, query


def test_extreme_dates_are_not_500(agent_client, mixed):
    assert (
        agent_client.get(f"{URL}?created_to=9999-12-31&shipped_from=0001-01-01").status_code == 200
    )


def test_list_never_shows_another_tenant(client_b, mixed, shipment_b):
    response = client_b.get(URL)
    assert rows_of(response) == [shipment_b.pk]


# --- sorts ---------------------------------------------------------------------------------


def test_sorts(agent_client, tenant_a):
    a, b, c = make(tenant_a, 3)
    with tenant_scope(tenant_a):
        Shipment.objects.filter(pk=a.pk).update(
            created_at=T0, estimated_delivery=date(2026, 12, 3), last_event_at=T0
        )
        Shipment.objects.filter(pk=b.pk).update(
            created_at=T0 + timedelta(1), estimated_delivery=date(2026, 12, 1)
        )
        Shipment.objects.filter(pk=c.pk).update(
            created_at=T0 + timedelta(2), estimated_delivery=None, last_event_at=T0 + timedelta(5)
        )
    assert rows_of(agent_client.get(f"{URL}?sort=newest")) == [c.pk, b.pk, a.pk]
    assert rows_of(agent_client.get(f"{URL}?sort=oldest")) == [a.pk, b.pk, c.pk]
    assert rows_of(agent_client.get(f"{URL}?sort=expected")) == [b.pk, a.pk, c.pk]
    assert rows_of(agent_client.get(f"{URL}?sort=last_scan")) == [c.pk, a.pk, b.pk]


# --- keyset pages --------------------------------------------------------------------------


@pytest.mark.parametrize("sort", list(SORTS))
def test_keyset_pages_walk_forward_and_back_without_gaps(tenant_a, sort):
    made = make(tenant_a, 23)
    with tenant_scope(tenant_a):
        for i, s in enumerate(made):
            # Ties on purpose (same value for pairs) and a NULL tail for the nullable sorts.
            Shipment.objects.filter(pk=s.pk).update(
                created_at=T0 + timedelta(hours=i // 2),
                estimated_delivery=None if i % 5 == 0 else date(2026, 12, 1 + i // 3),
                last_event_at=None if i % 4 == 0 else T0 + timedelta(hours=i // 3),
            )
        everything = [
            s.pk
            for s in shipment_page(queryset=Shipment.objects.all(), sort=sort, page_size=100).rows
        ]
        assert len(everything) == 23
        seen, pages, cursor = [], [], None
        while True:
            page = shipment_page(
                queryset=Shipment.objects.all(), sort=sort, cursor=cursor, page_size=5
            )
            pages.append(page)
            seen.extend(s.pk for s in page.rows)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert seen == everything
        # Walking back from the last page gives every earlier page again.
        back = shipment_page(
            queryset=Shipment.objects.all(),
            sort=sort,
            cursor=pages[-1].previous_cursor,
            page_size=5,
        )
        assert [s.pk for s in back.rows] == [s.pk for s in pages[-2].rows]
        assert pages[0].previous_cursor is None


def test_page_two_continues_page_one_through_the_view(agent_client, tenant_a):
    make(tenant_a, 60)
    first = agent_client.get(URL)
    assert len(rows_of(first)) == 50
    next_url = first.context["next_url"]
    assert "cursor=" in next_url and "offset" not in next_url
    second = agent_client.get(next_url)
    assert len(rows_of(second)) == 10
    assert not set(rows_of(first)) & set(rows_of(second))
    back = agent_client.get(second.context["previous_url"])
    assert rows_of(back) == rows_of(first)


def test_next_link_keeps_the_filters(agent_client, tenant_a):
    make(tenant_a, 55, carrier="dhl")
    make(tenant_a, 5)
    first = agent_client.get(f"{URL}?carrier=dhl")
    second = agent_client.get(first.context["next_url"])
    assert "carrier=dhl" in first.context["next_url"]
    assert len(rows_of(second)) == 5


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "eyJzIjoibmV3ZXN0In0:forged:signature",
        signing.dumps({"s": "oldest", "d": "n", "v": T0.isoformat(), "i": 1}, salt=CURSOR_SALT),
        signing.dumps({"s": "newest", "d": "n", "v": "not a date", "i": 1}, salt=CURSOR_SALT),
        signing.dumps(
            {"s": "newest", "d": "n", "v": "2026-01-01T00:00:00", "i": 1}, salt=CURSOR_SALT
        ),
        signing.dumps({"s": "newest", "d": "x", "v": T0.isoformat(), "i": "1"}, salt=CURSOR_SALT),
        "x" * 2000,
    ],
)
def test_forged_cursor_is_400_not_500(agent_client, shipment_a, cursor):
    response = agent_client.get(URL, {"cursor": cursor})
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


# --- saved views ---------------------------------------------------------------------------


def test_save_view_keeps_only_filter_keys(agent_client, agent_a, tenant_a):
    response = agent_client.post(
        "/dashboard/shipments/views/",
        {"name": "DHL late", "query": "carrier=dhl&delayed=true&cursor=abc&evil=1"},
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        view = SavedView.objects.get()
    assert (view.name, view.user_id, view.shared) == ("DHL late", agent_a.pk, False)
    assert view.query == "carrier=dhl&delayed=true"


def test_save_view_without_name_is_400(agent_client, tenant_a):
    response = agent_client.post("/dashboard/shipments/views/", {"name": " ", "query": ""})
    assert response.status_code == 400
    with tenant_scope(tenant_a):
        assert not SavedView.objects.exists()


def test_personal_views_are_private_shared_ones_team_wide(tenant_a, agent_a, admin_a, owner_b):
    with tenant_scope(tenant_a):
        SavedView.objects.create(tenant=tenant_a, user=agent_a, name="Mine", query="status=x")
        SavedView.objects.create(tenant=tenant_a, user=agent_a, name="Team", query="", shared=True)
    admin_page = signed_in(admin_a).get(URL).content.decode()
    agent_page = signed_in(agent_a).get(URL).content.decode()
    other_tenant = signed_in(owner_b).get(URL).content.decode()
    assert "Team" in admin_page and "Mine" not in admin_page
    assert "Team" in agent_page and "Mine" in agent_page
    assert "Team" not in other_tenant and "Mine" not in other_tenant


def test_delete_own_view_only(tenant_a, agent_a, admin_a, client_b):
    with tenant_scope(tenant_a):
        shared = SavedView.objects.create(
            tenant=tenant_a, user=agent_a, name="Team", query="", shared=True
        )
        private = SavedView.objects.create(tenant=tenant_a, user=agent_a, name="Mine", query="")
    admin = signed_in(admin_a)
    assert admin.post(f"/dashboard/shipments/views/{shared.pk}/delete/").status_code == 403
    assert admin.post(f"/dashboard/shipments/views/{private.pk}/delete/").status_code == 404
    assert client_b.post(f"/dashboard/shipments/views/{shared.pk}/delete/").status_code == 404
    assert (
        signed_in(agent_a).post(f"/dashboard/shipments/views/{private.pk}/delete/").status_code
        == 302
    )
    with tenant_scope(tenant_a):
        assert list(SavedView.objects.values_list("name", flat=True)) == ["Team"]


# --- CSV export ----------------------------------------------------------------------------


def read_csv(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_export_streams_filtered_rows(agent_client, mixed):
    response = agent_client.get("/dashboard/shipments/export.csv?status=in_transit&delayed=true")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert [int(r["id"]) for r in rows] == [mixed["delayed"].pk]
    assert rows[0]["tracking_url"].endswith(f"/t/alpha/{mixed['delayed'].public_token}/")
    assert rows[0]["is_delayed"] == "true"


def test_export_walks_chunks_in_order(agent_client, tenant_a, monkeypatch):
    monkeypatch.setattr("dashboard.selectors.shipments.EXPORT_CHUNK", 3)
    made = make(tenant_a, 10)
    with tenant_scope(tenant_a):
        Shipment.objects.update(created_at=T0)  # all tied: the id breaks ties
    rows = read_csv(agent_client.get("/dashboard/shipments/export.csv"))
    assert [int(r["id"]) for r in rows] == sorted((s.pk for s in made), reverse=True)


def test_export_is_safe_from_csv_injection(agent_client, tenant_a):
    with tenant_scope(tenant_a):
        order = OrderFactory(
            tenant=tenant_a,
            order_number='=HYPERLINK("http://x")',
            customer_name="+cmd",
            customer_email="-a@example.com",
        )
        ShipmentFactory(tenant=tenant_a, carrier="manual", order=order)
    (row,) = read_csv(agent_client.get("/dashboard/shipments/export.csv"))
    assert row["order_number"] == '\'=HYPERLINK("http://x")'
    assert row["customer_name"] == "'+cmd"
    assert row["customer_email"] == "'-a@example.com"


def test_export_is_tenant_scoped(client_b, shipment_a, shipment_b):
    rows = read_csv(client_b.get("/dashboard/shipments/export.csv"))
    assert [int(r["id"]) for r in rows] == [shipment_b.pk]


def test_export_bad_filter_is_400(agent_client, shipment_a):
    assert agent_client.get("/dashboard/shipments/export.csv?status=bogus").status_code == 400


# --- bulk actions --------------------------------------------------------------------------


@pytest.fixture
def fake_actions(monkeypatch):
    """Stand-in for dashboard.services.actions that records calls (the real one is tested by
    its own area)."""
    calls = []
    module = types.ModuleType("dashboard.services.actions")

    def record(name):
        def action(*, shipment_ids, user=None):
            calls.append((name, sorted(shipment_ids), user))
            return len(shipment_ids)

        return action

    module.shipments_retrack = record("retrack")
    module.shipments_resend = record("resend")
    module.shipments_stop_tracking = record("stop")
    monkeypatch.setitem(sys.modules, "dashboard.services.actions", module)
    import dashboard.services

    monkeypatch.setattr(dashboard.services, "actions", module, raising=False)
    return calls


@pytest.mark.parametrize("action", ["retrack", "resend", "stop"])
def test_agent_may_run_bulk_actions(agent_client, agent_a, tenant_a, fake_actions, action):
    a, b = make(tenant_a, 2)
    response = agent_client.post(
        "/dashboard/shipments/bulk/",
        {"action": action, "ids": [a.pk, b.pk], "query": "status=in_transit"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?status=in_transit"
    name, ids, _ = fake_actions[0]
    assert (name, ids) == (action, sorted([a.pk, b.pk]))


def test_bulk_ignores_other_tenants_ids(client_b, shipment_a, shipment_b, fake_actions):
    response = client_b.post(
        "/dashboard/shipments/bulk/", {"action": "stop", "ids": [shipment_a.pk, shipment_b.pk]}
    )
    assert response.status_code == 302
    assert [ids for _, ids, _ in fake_actions] == [[shipment_b.pk]]


def test_bulk_only_foreign_ids_runs_nothing(client_b, shipment_a, fake_actions):
    response = client_b.post(
        "/dashboard/shipments/bulk/", {"action": "stop", "ids": [shipment_a.pk]}
    )
    assert response.status_code == 302
    assert fake_actions == []


@pytest.mark.parametrize(
    "data",
    [
        {"action": "retrack", "ids": [str(i) for i in range(1, 502)]},
        {"action": "retrack", "ids": ["1", "abc"]},
        {"action": "retrack", "ids": ["-3"]},
        {"action": "retrack"},
        {"action": "explode", "ids": ["1"]},
    ],
)
def test_bulk_bad_input_is_400_and_changes_nothing(agent_client, shipment_a, fake_actions, data):
    response = agent_client.post("/dashboard/shipments/bulk/", data)
    assert response.status_code == 400
    assert fake_actions == []


def test_bulk_needs_post(agent_client):
    assert agent_client.get("/dashboard/shipments/bulk/").status_code == 405


# --- access --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [URL, "/dashboard/shipments/export.csv"])
def test_signed_out_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_every_role_opens_the_list_with_csp(tenant_a):
    for role in (Role.AGENT, Role.ADMIN, Role.OWNER):
        response = signed_in(member(tenant_a, role, f"{role}-x@alpha.example")).get(URL)
        assert response.status_code == 200
        assert "script-src 'self'" in response["Content-Security-Policy"]


def test_bulk_stop_tracking_with_the_real_actions(agent_client, tenant_a, shipment_a, shipment_b):
    response = agent_client.post(
        "/dashboard/shipments/bulk/",
        {"action": "stop", "ids": [shipment_a.pk, shipment_b.pk]},
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        assert Shipment.objects.get(pk=shipment_a.pk).is_active is False
    with tenant_scope(shipment_b.tenant):
        assert Shipment.objects.get(pk=shipment_b.pk).is_active is True


def test_rows_show_the_store_name(agent_client, mixed):
    body = agent_client.get(f"{URL}?store={mixed['store_id']}").content.decode()
    assert "<td>EU store</td>" in body
