"""Carrier accounts: the rules their fields follow, writes, and the "test connection" call.

Shared by the REST API (``/api/v1/carrier-accounts/``) and the dashboard's carrier settings:

- ``carrier_clean`` accepts a slug of the registry (the sandbox carrier included: it is labelled
  as simulated where it is shown); ``carrier_credentials_clean`` keeps plain key/value pairs and,
  for a new account, asks for every key the adapter lists in ``credential_fields``.
- ``carrier_account_save`` writes an account; credentials are merged: a key sent empty keeps
  its stored value (write-only secrets are never shown, so a form cannot send them back).
- ``carrier_connection_test`` asks the carrier about one dummy number with the account's
  credentials and a short timeout: "not found" proves the credentials work; 401/403 is "refused";
  a timeout or 5xx is "unreachable". Never raises for carrier failures.
- ``carrier_priority_clean`` validates a merchant's ordered carrier list.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from carriers import registry
from carriers.http import CarrierHTTPError, HttpClient, TerminalError, TransientError
from wismo.tracking.models import CarrierAccount
from wismo.tracking.services.shop_setup import SETUP_TIMEOUT, credentials_clean

# Options an adapter reads besides its secrets; shown as optional fields.
OPTIONAL_FIELDS = ("base_url",)
TEST_NUMBER = "WISMOTEST0000000001"


def carrier_clean(slug: str) -> str:
    try:
        registry.get_adapter(slug)
    except registry.UnknownCarrier:
        raise ValidationError(f"Unknown carrier {slug!r}.") from None
    return slug


def carrier_fields(slug: str) -> tuple[str, ...]:
    """The credential keys the carrier's adapter reads (its ``credential_fields``)."""
    return tuple(registry.get_adapter(slug).credential_fields)


def carrier_label(slug: str) -> str:
    adapter = registry.get_adapter(slug)
    return (
        f"{adapter.name} (simulated)"
        if adapter.simulated and "simulated" not in adapter.name.lower()
        else adapter.name
    )


def carrier_credentials_clean(*, carrier: str, credentials: object, creating: bool) -> dict:
    """Plain pairs; a new account must carry every key its adapter requires."""
    credentials = credentials_clean(credentials)
    base_url = credentials.get("base_url")
    # https only: a plain-http or internal address would let "test connection" probe the network.
    if base_url and not str(base_url).startswith("https://"):
        raise ValidationError("The API base URL must be https://.")
    if creating:
        missing = [k for k in carrier_fields(carrier) if str(credentials.get(k, "")).strip() == ""]
        if missing:
            raise ValidationError(f"Missing credential field(s): {', '.join(missing)}.")
    return credentials


@transaction.atomic
def carrier_account_save(
    *,
    tenant,
    account: CarrierAccount | None = None,
    carrier: str | None = None,
    name: str | None = None,
    credentials: dict | None = None,
    is_active: bool | None = None,
) -> CarrierAccount:
    """Create (``account`` None) or update an account. Empty credential values keep old ones."""
    creating = account is None
    if creating:
        if not carrier or not name:
            raise ValidationError("A carrier and a name are needed.")
        account = CarrierAccount(tenant=tenant, carrier=carrier_clean(carrier))
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationError("A name of 1 to 200 characters is needed.")
        account.name = name
    if credentials is not None or creating:
        # Only what is sent now is checked (stored values were checked when they were set).
        sent = {
            str(key): value
            for key, value in credentials_clean(credentials or {}).items()
            if str(value).strip() != ""
        }
        if creating:
            carrier_credentials_clean(carrier=account.carrier, credentials=sent, creating=True)
        elif "base_url" in sent:
            carrier_credentials_clean(carrier=account.carrier, credentials=sent, creating=False)
        account.credentials = credentials_clean({**(account.credentials or {}), **sent})
    if is_active is not None:
        account.is_active = is_active
    if (
        CarrierAccount.objects.filter(carrier=account.carrier, name=account.name)
        .exclude(pk=account.pk)
        .exists()
    ):
        raise ValidationError("An account of this carrier already has that name.")
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise ValidationError("An account of this carrier already has that name.") from None
    return account


@dataclass(frozen=True, slots=True)
class CarrierCheck:
    ok: bool
    outcome: str  # ok | auth_failed | unreachable | error
    message: str


def carrier_account_delete(*, account: CarrierAccount) -> None:
    """Delete the account; its shipments keep their carrier and are polled without it."""
    account.delete()


def carrier_connection_test(
    *, account: CarrierAccount, http: HttpClient | None = None
) -> CarrierCheck:
    """Ask the carrier about a dummy number with the account's credentials."""
    adapter = registry.get_adapter(account.carrier)
    if not adapter.pollable:
        return CarrierCheck(True, "ok", f"{adapter.name} needs no connection.")
    try:
        batch = adapter.track(
            [TEST_NUMBER],
            credentials=dict(account.credentials or {}),
            http=http or HttpClient(timeout=SETUP_TIMEOUT),
        )
    except TerminalError as exc:
        return CarrierCheck(False, "auth_failed", f"{adapter.name} refused the credentials: {exc}")
    except TransientError as exc:
        return CarrierCheck(False, "unreachable", f"{adapter.name} could not be reached: {exc}")
    except CarrierHTTPError as exc:  # pragma: no cover - the two above are all there is
        return CarrierCheck(False, "error", str(exc))
    except Exception as exc:
        return CarrierCheck(False, "error", f"{adapter.name}: {exc.__class__.__name__}")
    auth = [e for e in batch.errors if e.code in ("unauthorized", "auth", "forbidden")]
    if auth:
        return CarrierCheck(False, "auth_failed", auth[0].message)
    return CarrierCheck(True, "ok", f"{adapter.name} answered: the credentials work.")


def carrier_priority_clean(slugs: list[str]) -> list[str]:
    """Known slugs, each once, in the merchant's order."""
    cleaned: list[str] = []
    unknown: list[str] = []
    for slug in (s.strip() for s in slugs):
        if not slug or slug in cleaned:
            continue
        try:
            registry.get_adapter(slug)
        except registry.UnknownCarrier:
            unknown.append(slug)
            continue
        cleaned.append(slug)
    if unknown:
        raise ValidationError(f"Unknown carrier(s): {', '.join(unknown[:10])}.")
    return cleaned
