"""Store settings: connect, edit with write-only secrets, test, webhooks, sync, pause, delete, CSV."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tenants.scoping import tenant_scope
from tests.factories import ShopConnectionFactory
from tests.fakes.carrier_server import Reply
from wismo.tracking.models import Order, ShopConnection

pytestmark = pytest.mark.django_db

SECRET = "shpat_do_not_show_me_42"
HOOK_SECRET = "whsec_never_in_html_7"


@pytest.fixture
def store_a(tenant_a):
    with tenant_scope(tenant_a):
        return ShopConnectionFactory(
            tenant=tenant_a,
            name="Alpine",
            platform="shopify",
            shop_url="https://alpine.myshopify.com",
            credentials={"access_token": SECRET},
            webhook_secret=HOOK_SECRET,
        )


def _store(tenant, pk):
    with tenant_scope(tenant):
        return ShopConnection.objects.get(pk=pk)


# -- pages and roles ----------------------------------------------------------------------------


def test_admin_sees_the_store_list_without_any_secret(admin_client, store_a):
    response = admin_client.get("/dashboard/settings/stores/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Alpine" in html and "Shopify" in html
    assert SECRET not in html and HOOK_SECRET not in html


def test_the_store_page_says_set_and_never_renders_a_secret(admin_client, store_a):
    response = admin_client.get(f"/dashboard/settings/stores/{store_a.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert SECRET not in html and HOOK_SECRET not in html
    assert "Set." in html
    assert f"/hooks/shopify/{store_a.pk}/" in html


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard/settings/stores/",
        "/dashboard/settings/stores/new/?platform=shopify",
        "/dashboard/settings/stores/{pk}/",
        "/dashboard/settings/stores/{pk}/import-csv/",
    ],
)
def test_agents_are_refused_every_store_page(agent_client, store_a, url):
    assert agent_client.get(url.format(pk=store_a.pk)).status_code == 403


def test_agents_cannot_post_store_actions(agent_client, store_a):
    for action in ("test", "webhooks", "sync", "delete"):
        response = agent_client.post(f"/dashboard/settings/stores/{store_a.pk}/{action}/")
        assert response.status_code == 403
    assert _store(store_a.tenant, store_a.pk).name == "Alpine"


def test_another_tenant_gets_404_for_every_store_route(client_b, store_a):
    pk = store_a.pk
    assert client_b.get(f"/dashboard/settings/stores/{pk}/").status_code == 404
    assert client_b.get(f"/dashboard/settings/stores/{pk}/import-csv/").status_code == 404
    for action in ("test", "webhooks", "sync", "active", "delete"):
        assert client_b.post(f"/dashboard/settings/stores/{pk}/{action}/").status_code == 404
    assert client_b.post(f"/dashboard/settings/stores/{pk}/", {"name": "x"}).status_code == 404
    assert _store(store_a.tenant, pk).name == "Alpine"


# -- connect and edit ---------------------------------------------------------------------------


def test_connecting_a_woocommerce_store_saves_its_secrets_encrypted(admin_client, tenant_a):
    response = admin_client.post(
        "/dashboard/settings/stores/new/",
        {
            "platform": "woocommerce",
            "name": "Bottega",
            "shop_url": "https://bottega.example",
            "cred_consumer_key": "ck_123",
            "cred_consumer_secret": "cs_456_secret",
            "webhook_secret": "wc_hook_secret",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    with tenant_scope(tenant_a):
        store = ShopConnection.objects.get(name="Bottega")
    assert store.platform == "woocommerce"
    assert store.credentials == {"consumer_key": "ck_123", "consumer_secret": "cs_456_secret"}
    assert store.webhook_secret == "wc_hook_secret"
    page = admin_client.get(response["Location"]).content.decode()
    assert "cs_456_secret" not in page and "wc_hook_secret" not in page


def test_a_csv_store_needs_only_a_name(admin_client, tenant_a):
    response = admin_client.post(
        "/dashboard/settings/stores/new/", {"platform": "csv", "name": "Spreadsheet"}
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        assert ShopConnection.objects.get(name="Spreadsheet").platform == "csv"


@pytest.mark.parametrize(
    "data",
    [
        {"platform": "amazon", "name": "X"},
        {"platform": "shopify", "name": "", "shop_url": "https://a.myshopify.com"},
        {"platform": "shopify", "name": "Plain", "shop_url": "http://plain.example"},
        {"platform": "shopify", "name": "No address"},
    ],
)
def test_bad_store_input_is_a_400_and_creates_nothing(admin_client, tenant_a, data):
    response = admin_client.post("/dashboard/settings/stores/new/", data)

    assert response.status_code == 400
    with tenant_scope(tenant_a):
        assert not ShopConnection.objects.exists()


def test_blank_secrets_keep_the_stored_ones_on_edit(admin_client, store_a):
    response = admin_client.post(
        f"/dashboard/settings/stores/{store_a.pk}/",
        {
            "name": "Alpine Outlet",
            "shop_url": "https://alpine.myshopify.com",
            "cred_access_token": "",
            "webhook_secret": "",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    store = _store(store_a.tenant, store_a.pk)
    assert store.name == "Alpine Outlet"
    assert store.credentials == {"access_token": SECRET}
    assert store.webhook_secret == HOOK_SECRET


def test_a_new_secret_replaces_the_old_one(admin_client, store_a):
    admin_client.post(
        f"/dashboard/settings/stores/{store_a.pk}/",
        {"name": "Alpine", "shop_url": "https://alpine.myshopify.com", "cred_access_token": "new"},
    )
    assert _store(store_a.tenant, store_a.pk).credentials == {"access_token": "new"}


def test_pause_resume_and_delete(admin_client, store_a):
    url = f"/dashboard/settings/stores/{store_a.pk}"
    assert admin_client.post(f"{url}/active/", {"active": "0"}).status_code == 302
    assert _store(store_a.tenant, store_a.pk).is_active is False
    assert admin_client.post(f"{url}/active/", {"active": "maybe"}).status_code == 400
    assert _store(store_a.tenant, store_a.pk).is_active is False
    admin_client.post(f"{url}/active/", {"active": "1"})
    assert _store(store_a.tenant, store_a.pk).is_active is True

    page = admin_client.get("/dashboard/settings/stores/").content.decode()
    assert "data-confirm=" in page
    assert admin_client.post(f"{url}/delete/").status_code == 302
    with tenant_scope(store_a.tenant):
        assert not ShopConnection.objects.filter(pk=store_a.pk).exists()


def test_sync_now_enqueues_the_sync_task_after_commit(
    admin_client, store_a, monkeypatch, django_capture_on_commit_callbacks
):
    from wismo.tracking import tasks

    sent = []
    monkeypatch.setattr(tasks.import_store, "apply_async", lambda kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/dashboard/settings/stores/{store_a.pk}/sync/")

    assert response.status_code == 302
    assert sent == [{"tenant_id": store_a.tenant_id, "store_id": store_a.pk}]


def test_a_csv_store_cannot_be_synced(admin_client, tenant_a, monkeypatch):
    from wismo.tracking import tasks

    monkeypatch.setattr(tasks.import_store, "apply_async", lambda kwargs: pytest.fail("enqueued"))
    with tenant_scope(tenant_a):
        store = ShopConnectionFactory(tenant=tenant_a, platform="csv", credentials={})
    response = admin_client.post(f"/dashboard/settings/stores/{store.pk}/sync/", follow=True)
    assert "not synced from an API" in response.content.decode()


# -- test connection and webhooks against a fake platform ---------------------------------------


@pytest.fixture
def fake_store(tenant_a, carrier_server):
    with tenant_scope(tenant_a):
        return ShopConnectionFactory(
            tenant=tenant_a,
            name="Fake Shopify",
            platform="shopify",
            shop_url=carrier_server.url,
            credentials={"access_token": SECRET},
            webhook_secret=HOOK_SECRET,
        )


def test_test_connection_reports_ok_with_the_shop_name(admin_client, fake_store, carrier_server):
    carrier_server.route("GET", r"/admin/api/2025-01/shop\.json$", {"shop": {"name": "Alpine"}})

    response = admin_client.post(f"/dashboard/settings/stores/{fake_store.pk}/test/", follow=True)

    html = response.content.decode()
    assert "Test connection: OK. Connected to Shopify (Alpine)." in html
    assert SECRET not in html
    sent = carrier_server.requests[-1]
    assert sent.headers.get("x-shopify-access-token") == SECRET


def test_test_connection_shows_refused_credentials(admin_client, fake_store, carrier_server):
    carrier_server.route(
        "GET", r"/shop\.json$", Reply(401, body='{"errors":"[API] Invalid API key"}')
    )

    response = admin_client.post(f"/dashboard/settings/stores/{fake_store.pk}/test/", follow=True)

    assert "refused the credentials (HTTP 401)" in response.content.decode()


def test_test_connection_shows_a_timeout(fake_store, carrier_server, tenant_a):
    from carriers.http import HttpClient
    from wismo.tracking.services.shop_setup import store_connection_test

    carrier_server.blackhole_seconds = 2
    carrier_server.blackhole_next()
    with tenant_scope(tenant_a):
        check = store_connection_test(store=fake_store, http=HttpClient(timeout=(0.5, 0.5)))

    assert not check.ok
    assert "could not be reached" in check.message and "timeout" in check.message


def test_woocommerce_connection_test_uses_basic_auth(tenant_a, carrier_server):
    import base64

    from wismo.tracking.services.shop_setup import store_connection_test

    carrier_server.route("GET", r"/wp-json/wc/v3/orders$", [])
    with tenant_scope(tenant_a):
        store = ShopConnectionFactory(
            tenant=tenant_a,
            platform="woocommerce",
            shop_url=carrier_server.url,
            credentials={"consumer_key": "ck_1", "consumer_secret": "cs_2"},
        )
        check = store_connection_test(store=store)

    assert check.ok, check.message
    auth = carrier_server.requests[-1].headers["authorization"]
    assert auth == "Basic " + base64.b64encode(b"ck_1:cs_2").decode()


def test_register_webhooks_subscribes_the_four_shopify_topics(
    admin_client, fake_store, carrier_server, settings
):
    settings.WISMO_BASE_URL = "https://wismo.example"
    carrier_server.route("POST", r"/admin/api/2025-01/webhooks\.json$", Reply(201, body="{}"))

    response = admin_client.post(
        f"/dashboard/settings/stores/{fake_store.pk}/webhooks/", follow=True
    )

    assert "Webhooks registered with Shopify" in response.content.decode()
    posted = [r for r in carrier_server.requests if r.method == "POST"]
    assert [r.json()["webhook"]["topic"] for r in posted] == [
        "orders/create",
        "orders/updated",
        "fulfillments/create",
        "fulfillments/update",
    ]
    for request in posted:
        assert request.json()["webhook"]["address"] == (
            f"https://wismo.example/hooks/shopify/{fake_store.pk}/"
        )
        assert request.json()["webhook"]["format"] == "json"
        assert request.headers["x-shopify-access-token"] == SECRET


def test_an_already_registered_shopify_webhook_is_not_an_error(
    fake_store, carrier_server, tenant_a
):
    from wismo.tracking.services.shop_setup import store_webhooks_register

    carrier_server.route(
        "POST",
        r"/webhooks\.json$",
        Reply(422, body='{"errors":{"address":["for this topic has already been taken"]}}'),
    )
    with tenant_scope(tenant_a):
        check = store_webhooks_register(store=fake_store)
    assert check.ok
    assert all("already registered" in d for d in check.details)


def test_register_webhooks_on_woocommerce_sends_topic_url_and_a_new_secret(
    tenant_a, carrier_server, settings
):
    from wismo.tracking.services.shop_setup import store_webhooks_register

    settings.WISMO_BASE_URL = "https://wismo.example"
    carrier_server.route("POST", r"/wp-json/wc/v3/webhooks$", Reply(201, body='{"id": 1}'))
    with tenant_scope(tenant_a):
        store = ShopConnectionFactory(
            tenant=tenant_a,
            platform="woocommerce",
            shop_url=carrier_server.url,
            credentials={"consumer_key": "ck_1", "consumer_secret": "cs_2"},
            webhook_secret="",
        )
        check = store_webhooks_register(store=store)
        saved = ShopConnection.objects.get(pk=store.pk).webhook_secret

    assert check.ok, check.message
    bodies = [r.json() for r in carrier_server.requests]
    assert [b["topic"] for b in bodies] == ["order.created", "order.updated"]
    assert all(
        b["delivery_url"] == f"https://wismo.example/hooks/woocommerce/{store.pk}/" for b in bodies
    )
    assert saved and all(b["secret"] == saved for b in bodies)


def test_register_webhooks_reports_the_platform_error(admin_client, fake_store, carrier_server):
    carrier_server.route("POST", r"/webhooks\.json$", Reply(403, body="{}"))
    response = admin_client.post(
        f"/dashboard/settings/stores/{fake_store.pk}/webhooks/", follow=True
    )
    assert "refused the credentials (HTTP 403)" in response.content.decode()


# -- CSV upload ---------------------------------------------------------------------------------


@pytest.fixture
def csv_store(tenant_a):
    with tenant_scope(tenant_a):
        return ShopConnectionFactory(tenant=tenant_a, platform="csv", credentials={})


def test_csv_upload_imports_rows_and_reports_each_bad_line(admin_client, csv_store, tenant_a):
    content = (
        b"order_number,tracking_number,email,carrier\n"
        b"5001,SB0001,ada@example.com,manual\n"
        b",SB0002,bob@example.com,manual\n"
        b"5003,SB0003,not-an-email,manual\n"
        b"5004,SB0004,cy@example.com,manual\n"
    )
    upload = SimpleUploadedFile("orders.csv", content, content_type="text/csv")

    response = admin_client.post(
        f"/dashboard/settings/stores/{csv_store.pk}/import-csv/", {"file": upload}
    )

    html = response.content.decode()
    assert response.status_code == 200, html
    assert 'id="count-created">2<' in html
    assert 'id="count-skipped">2<' in html
    assert "line 3" in html and "line 4" in html
    with tenant_scope(tenant_a):
        assert set(Order.objects.values_list("order_number", flat=True)) == {"5001", "5004"}


def test_csv_upload_twice_updates_instead_of_duplicating(admin_client, csv_store, tenant_a):
    content = b"order_number,tracking_number\n6001,SB6001\n"
    url = f"/dashboard/settings/stores/{csv_store.pk}/import-csv/"
    admin_client.post(url, {"file": SimpleUploadedFile("a.csv", content)})
    html = admin_client.post(url, {"file": SimpleUploadedFile("a.csv", content)}).content.decode()
    assert 'id="count-updated">1<' in html
    with tenant_scope(tenant_a):
        assert Order.objects.count() == 1


def test_a_file_that_is_not_a_csv_is_a_400_with_a_reason(admin_client, csv_store, tenant_a):
    url = f"/dashboard/settings/stores/{csv_store.pk}/import-csv/"
    response = admin_client.post(url, {"file": SimpleUploadedFile("x.csv", b"foo,bar\n1,2\n")})
    assert response.status_code == 400
    assert "missing column" in response.content.decode()
    response = admin_client.post(url, {})
    assert response.status_code == 400
    with tenant_scope(tenant_a):
        assert not Order.objects.exists()


def test_a_file_over_the_size_limit_is_refused_clearly(admin_client, csv_store, monkeypatch):
    from dashboard.views import settings_integrations

    monkeypatch.setattr(settings_integrations, "CSV_MAX_BYTES", 1024 * 1024)
    big = SimpleUploadedFile("big.csv", b"x" * (1024 * 1024 + 1))
    response = admin_client.post(
        f"/dashboard/settings/stores/{csv_store.pk}/import-csv/", {"file": big}
    )
    assert response.status_code == 400
    assert "larger than 1 MB" in response.content.decode()


# -- in a browser --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_hostile_names_stay_text_and_delete_asks_first(
    browser, live_server, admin_a, tenant_a
):
    from tests.dashboard.conftest import browser_login

    hostile = '<img src=x onerror="window.__xss=1">Evil'
    with tenant_scope(tenant_a):
        store = ShopConnectionFactory(
            tenant=tenant_a,
            name=hostile,
            platform="shopify",
            shop_url="https://evil.myshopify.com",
            credentials={"access_token": SECRET},
            sync_error="<script>window.__xss=1</script>refused: HTTP 401",
        )
    page = browser.new_page()
    problems = []
    # CSP violations and script errors; the browser's own favicon probe (404) is not ours.
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and not msg.text.startswith("Failed to load resource")
            and problems.append(msg.text)
        ),
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        browser_login(page, live_server.url, admin_a.email)
        page.goto(f"{live_server.url}/dashboard/settings/stores/")
        assert page.get_by_text(hostile).count() >= 1  # shown as text
        assert page.evaluate("window.__xss") is None
        assert SECRET not in page.content()

        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Delete").click()
        page.goto(f"{live_server.url}/dashboard/settings/stores/")
        with tenant_scope(tenant_a):
            assert ShopConnection.objects.filter(pk=store.pk).exists()

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete").click()
        page.wait_for_url(f"{live_server.url}/dashboard/settings/stores/")
        assert "deleted" in page.content()
        with tenant_scope(tenant_a):
            assert not ShopConnection.objects.filter(pk=store.pk).exists()
        assert problems == []  # no CSP violation, no script error
    finally:
        page.close()
