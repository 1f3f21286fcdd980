"""Settings for integrations (admins and owners): stores, carrier accounts, status mapping.

Thin views: a Django form validates what was typed, one service writes it. Credentials and
webhook secrets are write-only: inputs are never filled back, pages say only "set" / "not set",
and a blank field keeps the stored value. Outbound checks (test connection, register webhooks)
run outside any transaction with short timeouts and report what the platform answered.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from carriers import registry
from carriers.statuses import STATUS_LABELS, SUBSTATUSES, Status
from dashboard.access import dashboard_view
from dashboard.models import StatusOverride
from dashboard.services import settings_integrations as services
from tenants.models import Role
from wismo.tracking.importers.csv_file import MAX_BYTES as CSV_MAX_BYTES
from wismo.tracking.models import CarrierAccount, Platform, ShopConnection
from wismo.tracking.services import carrier_setup, shop_setup
from wismo.tracking.services.sync import SYNC_MINUTES

admin_view = dashboard_view(Role.ADMIN)
WRITE_ONLY_HELP = "Write-only: leave blank to keep the stored value."


def _secret_input() -> forms.PasswordInput:
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


def _errors(form: forms.Form, exc: ValidationError) -> None:
    for message in exc.messages:
        form.add_error(None, message)


# -- stores -------------------------------------------------------------------------------------


class StoreForm(forms.Form):
    name = forms.CharField(max_length=200)
    shop_url = forms.URLField(
        max_length=500, required=False, label="Shop address", assume_scheme="https"
    )
    webhook_secret = forms.CharField(
        max_length=500, required=False, widget=_secret_input(), help_text=WRITE_ONLY_HELP
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    write_back = forms.BooleanField(required=False, label="Write tracking updates back to the shop")

    def __init__(self, *args, platform: str, store: ShopConnection | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.platform = platform
        stored = (store.credentials or {}) if store else {}
        self.credential_keys = [key for key, _ in shop_setup.PLATFORM_FIELDS.get(platform, ())]
        for key, label in shop_setup.PLATFORM_FIELDS.get(platform, ()):
            self.fields[f"cred_{key}"] = forms.CharField(
                label=label,
                max_length=1000,
                required=False,
                widget=_secret_input(),
                help_text=f"{'Set' if stored.get(key) else 'Not set'}. {WRITE_ONLY_HELP}",
            )
        if platform in (Platform.CSV, Platform.API):
            del self.fields["shop_url"]
        if platform not in shop_setup.WEBHOOK_PLATFORMS:
            del self.fields["webhook_secret"]
            del self.fields["write_back"]
        elif platform == Platform.SHOPIFY:
            self.fields["webhook_secret"].label = "App client secret (signs webhooks)"
        if store is not None and "webhook_secret" in self.fields:
            state = "Set" if store.webhook_secret else "Not set"
            self.fields["webhook_secret"].help_text = f"{state}. {WRITE_ONLY_HELP}"

    def credentials(self) -> dict:
        return {key: self.cleaned_data.get(f"cred_{key}", "") for key in self.credential_keys}

    def save_fields(self) -> dict:
        """``services.store_save``'s arguments from a valid form."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "shop_url": data.get("shop_url") or "",
            "credentials": self.credentials(),
            "webhook_secret": data.get("webhook_secret") or "",
            "is_active": data["is_active"],
            "write_back": data.get("write_back", False),
        }


def _store_or_404(pk: int) -> ShopConnection:
    return get_object_or_404(ShopConnection.objects.all(), pk=pk)


@admin_view
def stores(request: HttpRequest) -> HttpResponse:
    return _stores_page(request)


def _stores_page(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    rows = list(ShopConnection.objects.order_by("name", "id"))
    return render(
        request,
        "dashboard/settings/stores.html",
        {
            "stores": rows,
            "error": error,
            "syncable": set(SYNC_MINUTES),
            "webhook_platforms": set(shop_setup.WEBHOOK_PLATFORMS),
        },
        status=status,
    )


@admin_view
@require_http_methods(["GET", "POST"])
def store_new(request: HttpRequest) -> HttpResponse:
    platform = request.POST.get("platform") or request.GET.get("platform", "")
    if platform not in Platform.values:
        if request.method == "POST":
            return render(
                request,
                "dashboard/settings/stores_choose.html",
                {"platforms": Platform.choices, "error": "Choose a platform."},
                status=400,
            )
        return render(
            request, "dashboard/settings/stores_choose.html", {"platforms": Platform.choices}
        )
    form = StoreForm(request.POST or None, platform=platform)
    if request.method == "POST" and form.is_valid():
        try:
            store = services.store_save(
                tenant=request.tenant, platform=platform, **form.save_fields()
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"Store “{store.name}” connected.")
            return redirect("dash-store", pk=store.pk)
    return _store_form(
        request, form, None, platform, status=400 if request.method == "POST" else 200
    )


def _store_form(request, form, store, platform, *, status=200) -> HttpResponse:
    return render(
        request,
        "dashboard/settings/stores_form.html",
        {
            "form": form,
            "store": store,
            "platform": platform,
            "platform_label": Platform(platform).label,
            "webhook_url": shop_setup.webhook_url(store) if store else None,
            "syncable": platform in SYNC_MINUTES,
            "has_webhooks": platform in shop_setup.WEBHOOK_PLATFORMS,
        },
        status=status,
    )


@admin_view
@require_http_methods(["GET", "POST"])
def store_detail(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    if request.method == "GET":
        form = StoreForm(
            platform=store.platform,
            store=store,
            initial={
                "name": store.name,
                "shop_url": store.shop_url,
                "is_active": store.is_active,
                "write_back": store.write_back,
            },
        )
        return _store_form(request, form, store, store.platform)
    form = StoreForm(request.POST, platform=store.platform, store=store)
    if form.is_valid():
        try:
            services.store_save(tenant=request.tenant, store=store, **form.save_fields())
        except ValidationError as exc:
            _errors(form, exc)
            store.refresh_from_db()
        else:
            messages.success(request, "Store saved.")
            return redirect("dash-store", pk=store.pk)
    return _store_form(request, form, store, store.platform, status=400)


@admin_view
@require_POST
def store_test(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    check = shop_setup.store_connection_test(store=store)
    (messages.success if check.ok else messages.error)(
        request, f"Test connection: {'OK. ' if check.ok else ''}{check.message}"
    )
    return redirect("dash-store", pk=store.pk)


@admin_view
@require_POST
def store_webhooks(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    check = shop_setup.store_webhooks_register(store=store)
    detail = f" ({', '.join(check.details)})" if check.details else ""
    (messages.success if check.ok else messages.error)(
        request, f"Register webhooks: {check.message}{detail}"
    )
    return redirect("dash-store", pk=store.pk)


@admin_view
@require_POST
def store_sync(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    try:
        services.store_sync_enqueue(store=store)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("dash-store", pk=store.pk)
    messages.success(request, "Sync started: new orders appear in a few minutes.")
    return redirect("dash-store", pk=store.pk)


@admin_view
@require_POST
def store_active(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    value = request.POST.get("active")
    if value not in ("0", "1"):
        return _stores_page(request, error="Say whether to pause or resume the store.", status=400)
    services.store_set_active(store=store, active=value == "1")
    messages.success(request, f"Store {'resumed' if value == '1' else 'paused'}.")
    return redirect("dash-stores")


@admin_view
@require_POST
def store_delete(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    name = store.name
    services.store_delete(store=store)
    messages.success(request, f"Store “{name}” deleted. Its orders and shipments stay.")
    return redirect("dash-stores")


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, comma or semicolon separated.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > CSV_MAX_BYTES:
            raise ValidationError(
                f"The file is larger than {CSV_MAX_BYTES // (1024 * 1024)} MB: split it."
            )
        return upload


@admin_view
@require_http_methods(["GET", "POST"])
def store_import_csv(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    report, status = None, 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                report = services.store_csv_import(
                    store=store, data=form.cleaned_data["file"].read()
                )
                status = 200
            except ValidationError as exc:
                form.add_error("file", exc.messages[0])
    return render(
        request,
        "dashboard/settings/stores_import.html",
        {"store": store, "form": form, "report": report, "max_mb": CSV_MAX_BYTES // (1024 * 1024)},
        status=status,
    )


# -- carrier accounts --------------------------------------------------------------------------


def _carrier_options() -> list[tuple[str, str]]:
    return [(a.slug, carrier_setup.carrier_label(a.slug)) for a in registry.all_adapters()]


class CarrierAccountForm(forms.Form):
    name = forms.CharField(max_length=200)
    base_url = forms.CharField(
        max_length=500,
        required=False,
        label="API base URL (optional: the carrier's test environment)",
        widget=_secret_input(),
        help_text=WRITE_ONLY_HELP,
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args, carrier: str, account: CarrierAccount | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        stored = (account.credentials or {}) if account else {}
        self.credential_keys = list(carrier_setup.carrier_fields(carrier))
        for key in self.credential_keys:
            self.fields[f"cred_{key}"] = forms.CharField(
                label=key.replace("_", " ").capitalize(),
                max_length=1000,
                required=account is None,
                widget=_secret_input(),
                help_text=(f"{'Set' if stored.get(key) else 'Not set'}. {WRITE_ONLY_HELP}")
                if account
                else "Write-only: never shown again.",
            )
        if account is not None:
            self.fields[
                "base_url"
            ].help_text = f"{'Set' if stored.get('base_url') else 'Not set'}. {WRITE_ONLY_HELP}"
        # Keep the name and active box after the secrets, in reading order.
        self.order_fields(["name", *[f"cred_{k}" for k in self.credential_keys], "base_url"])

    def credentials(self) -> dict:
        values = {key: self.cleaned_data.get(f"cred_{key}", "") for key in self.credential_keys}
        values["base_url"] = self.cleaned_data.get("base_url", "")
        return values

    def save_fields(self) -> dict:
        """``carrier_setup.carrier_account_save``'s arguments from a valid form."""
        return {
            "name": self.cleaned_data["name"],
            "credentials": self.credentials(),
            "is_active": self.cleaned_data["is_active"],
        }


class PriorityForm(forms.Form):
    slugs = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label="Carrier priority (one carrier slug per line, most preferred first)",
    )


def _account_or_404(pk: int) -> CarrierAccount:
    return get_object_or_404(CarrierAccount.objects.all(), pk=pk)


def _carriers_page(request, priority_form=None, status=200, error: str = "") -> HttpResponse:
    accounts = list(CarrierAccount.objects.order_by("carrier", "name"))
    labels = dict(_carrier_options())
    for account in accounts:
        account.label = labels.get(account.carrier, account.carrier)
        account.key_states = [
            (key, bool((account.credentials or {}).get(key)))
            for key in _safe_fields(account.carrier)
        ]
    if priority_form is None:
        priority_form = PriorityForm(initial={"slugs": "\n".join(request.tenant.carrier_priority)})
    return render(
        request,
        "dashboard/settings/carriers.html",
        {
            "accounts": accounts,
            "carriers": _carrier_options(),
            "priority_form": priority_form,
            "error": error,
        },
        status=status,
    )


def _safe_fields(slug: str) -> tuple[str, ...]:
    try:
        return carrier_setup.carrier_fields(slug)
    except registry.UnknownCarrier:
        return ()


@admin_view
def carriers(request: HttpRequest) -> HttpResponse:
    return _carriers_page(request)


@admin_view
@require_POST
def carrier_priority(request: HttpRequest) -> HttpResponse:
    form = PriorityForm(request.POST)
    if form.is_valid():
        try:
            services.carrier_priority_set(
                tenant=request.tenant, slugs=form.cleaned_data["slugs"].splitlines()
            )
        except ValidationError as exc:
            form.add_error("slugs", exc.messages[0])
        else:
            messages.success(request, "Carrier priority saved.")
            return redirect("dash-carriers")
    return _carriers_page(request, priority_form=form, status=400)


@admin_view
@require_http_methods(["GET", "POST"])
def carrier_new(request: HttpRequest) -> HttpResponse:
    carrier = request.POST.get("carrier") or request.GET.get("carrier", "")
    try:
        carrier_setup.carrier_clean(carrier)
    except ValidationError:
        status = 400 if request.method == "POST" or carrier else 200
        return render(
            request,
            "dashboard/settings/carriers_choose.html",
            {"carriers": _carrier_options(), "error": "Choose a carrier." if status == 400 else ""},
            status=status,
        )
    form = CarrierAccountForm(request.POST or None, carrier=carrier)
    if request.method == "POST" and form.is_valid():
        try:
            account = carrier_setup.carrier_account_save(
                tenant=request.tenant, carrier=carrier, **form.save_fields()
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"Carrier account “{account.name}” added.")
            return redirect("dash-carrier", pk=account.pk)
    return _carrier_form(
        request, form, None, carrier, status=400 if request.method == "POST" else 200
    )


def _carrier_form(request, form, account, carrier, *, status=200) -> HttpResponse:
    adapter = registry.get_adapter(carrier)
    return render(
        request,
        "dashboard/settings/carriers_form.html",
        {
            "form": form,
            "account": account,
            "carrier": carrier,
            "carrier_label": carrier_setup.carrier_label(carrier),
            "simulated": adapter.simulated,
            "push_url": (
                f"{settings.WISMO_BASE_URL}/hooks/carriers/{carrier}/{account.pk}/"
                if account and adapter.accepts_push
                else ""
            ),
        },
        status=status,
    )


@admin_view
@require_http_methods(["GET", "POST"])
def carrier_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account_or_404(pk)
    if request.method == "GET":
        form = CarrierAccountForm(
            carrier=account.carrier,
            account=account,
            initial={"name": account.name, "is_active": account.is_active},
        )
        return _carrier_form(request, form, account, account.carrier)
    form = CarrierAccountForm(request.POST, carrier=account.carrier, account=account)
    if form.is_valid():
        try:
            carrier_setup.carrier_account_save(
                tenant=request.tenant, account=account, **form.save_fields()
            )
        except ValidationError as exc:
            _errors(form, exc)
            account.refresh_from_db()
        else:
            messages.success(request, "Carrier account saved.")
            return redirect("dash-carrier", pk=account.pk)
    return _carrier_form(request, form, account, account.carrier, status=400)


@admin_view
@require_POST
def carrier_test(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account_or_404(pk)
    check = carrier_setup.carrier_connection_test(account=account)
    label = {"ok": "OK", "auth_failed": "authentication failed", "unreachable": "unreachable"}
    (messages.success if check.ok else messages.error)(
        request, f"Test connection: {label.get(check.outcome, 'error')}. {check.message}"
    )
    return redirect("dash-carrier", pk=account.pk)


@admin_view
@require_POST
def carrier_active(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account_or_404(pk)
    value = request.POST.get("active")
    if value not in ("0", "1"):
        return _carriers_page(
            request, error="Say whether to activate or deactivate the account.", status=400
        )
    try:
        carrier_setup.carrier_account_save(
            tenant=request.tenant, account=account, is_active=value == "1"
        )
    except ValidationError as exc:
        return _carriers_page(request, error=" ".join(exc.messages), status=400)
    messages.success(request, f"Account {'activated' if value == '1' else 'deactivated'}.")
    return redirect("dash-carriers")


@admin_view
@require_POST
def carrier_delete(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account_or_404(pk)
    name = account.name
    carrier_setup.carrier_account_delete(account=account)
    messages.success(request, f"Carrier account “{name}” deleted.")
    return redirect("dash-carriers")


# -- status mapping ------------------------------------------------------------------------------


def _status_choices() -> list[tuple[str, str]]:
    return [(s.value, STATUS_LABELS[s]) for s in Status]


def _substatus_choices() -> list[tuple[str, str]]:
    return [("", "Default for the status")] + [
        (code, f"{code} ({entry.label})") for code, entry in SUBSTATUSES.items()
    ]


class OverrideForm(forms.Form):
    carrier = forms.ChoiceField()
    code = forms.CharField(max_length=64, label="Carrier code")
    status = forms.ChoiceField()
    substatus = forms.ChoiceField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["carrier"].choices = _carrier_options()
        self.fields["status"].choices = _status_choices()
        self.fields["substatus"].choices = _substatus_choices()


def _mapping_page(request, form=None, status=200) -> HttpResponse:
    overrides = list(StatusOverride.objects.order_by("carrier", "code"))
    overridden = {(o.carrier, o.code) for o in overrides}
    return render(
        request,
        "dashboard/settings/mapping.html",
        {
            "unmapped": services.unmapped_codes_for_tenant(),
            "overrides": overrides,
            "overridden": overridden,
            "form": form or OverrideForm(),
        },
        status=status,
    )


@admin_view
@require_http_methods(["GET", "POST"])
def mapping(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        initial = {k: request.GET[k] for k in ("carrier", "code") if k in request.GET}
        return _mapping_page(request, OverrideForm(initial=initial) if initial else None)
    form = OverrideForm(request.POST)
    if form.is_valid():
        try:
            services.status_override_save(
                tenant=request.tenant, user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Override saved: new events with this code use it.")
            return redirect("dash-mapping")
    return _mapping_page(request, form, status=400)


@admin_view
@require_http_methods(["GET", "POST"])
def mapping_edit(request: HttpRequest, pk: int) -> HttpResponse:
    override = get_object_or_404(StatusOverride.objects.all(), pk=pk)
    if request.method == "GET":
        form = OverrideForm(
            initial={
                "carrier": override.carrier,
                "code": override.code,
                "status": override.status,
                "substatus": override.substatus,
            }
        )
        return render(
            request, "dashboard/settings/mapping_form.html", {"form": form, "override": override}
        )
    form = OverrideForm(request.POST)
    if form.is_valid():
        try:
            services.status_override_save(
                tenant=request.tenant, override=override, user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Override saved.")
            return redirect("dash-mapping")
    return render(
        request,
        "dashboard/settings/mapping_form.html",
        {"form": form, "override": override},
        status=400,
    )


@admin_view
@require_POST
def mapping_delete(request: HttpRequest, pk: int) -> HttpResponse:
    override = get_object_or_404(StatusOverride.objects.all(), pk=pk)
    services.status_override_delete(override=override)
    messages.success(request, "Override deleted: new events use the carrier's table again.")
    return redirect("dash-mapping")


urlpatterns = [
    path("stores/", stores, name="dash-stores"),
    path("stores/new/", store_new, name="dash-store-new"),
    path("stores/<int:pk>/", store_detail, name="dash-store"),
    path("stores/<int:pk>/test/", store_test, name="dash-store-test"),
    path("stores/<int:pk>/webhooks/", store_webhooks, name="dash-store-webhooks"),
    path("stores/<int:pk>/sync/", store_sync, name="dash-store-sync"),
    path("stores/<int:pk>/active/", store_active, name="dash-store-active"),
    path("stores/<int:pk>/delete/", store_delete, name="dash-store-delete"),
    path("stores/<int:pk>/import-csv/", store_import_csv, name="dash-store-import-csv"),
    path("carriers/", carriers, name="dash-carriers"),
    path("carriers/new/", carrier_new, name="dash-carrier-new"),
    path("carriers/priority/", carrier_priority, name="dash-carrier-priority"),
    path("carriers/<int:pk>/", carrier_detail, name="dash-carrier"),
    path("carriers/<int:pk>/test/", carrier_test, name="dash-carrier-test"),
    path("carriers/<int:pk>/active/", carrier_active, name="dash-carrier-active"),
    path("carriers/<int:pk>/delete/", carrier_delete, name="dash-carrier-delete"),
    path("status-mapping/", mapping, name="dash-mapping"),
    path("status-mapping/<int:pk>/", mapping_edit, name="dash-mapping-edit"),
    path("status-mapping/<int:pk>/delete/", mapping_delete, name="dash-mapping-delete"),
]
