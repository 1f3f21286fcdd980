"""Writes of the shipment list: saved views and bulk actions; plus the CSV cell guard.

Flow: the list page validates its query string with the shared ``ShipmentFilter``; "Save view"
keeps the cleaned query string (only known keys) as a ``SavedView``, personal or shared with the
team. Bulk actions take the ticked ids, keep those of the active tenant (others are silently
dropped: they do not exist for this tenant) and call ``dashboard.services.actions``.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import QueryDict

from dashboard.models import SavedView
from wismo.tracking.filters import ShipmentFilter
from wismo.tracking.models import Shipment

MAX_BULK_IDS = 500
BULK_ACTIONS = {
    "retrack": "Re-track",
    "resend": "Resend last notification",
    "stop": "Stop tracking",
}
LIST_KEYS = (*ShipmentFilter.base_filters.keys(), "sort")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def list_query_string(query: QueryDict | dict) -> str:
    """The list's query string reduced to known, non-empty filter keys (no cursor, no token)."""
    pairs = []
    for key in LIST_KEYS:
        values = query.getlist(key) if hasattr(query, "getlist") else [query.get(key)]
        pairs.extend((key, v) for v in values if v not in (None, ""))
    return urlencode(pairs)


@transaction.atomic
def saved_view_create(*, tenant, user, name: str, query: str, shared: bool) -> SavedView:
    """Keep a named list query for ``user`` (or the whole team when ``shared``)."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the view a name."})
    if len(query) > SavedView._meta.get_field("query").max_length:
        raise ValidationError({"query": "These filters are too long to save."})
    view = SavedView(tenant=tenant, user=user, name=name, query=query, shared=shared)
    view.full_clean()
    view.save()
    return view


@transaction.atomic
def saved_view_delete(*, user, view_id: int) -> None:
    """Delete one of the user's own views (in the active tenant); raises DoesNotExist otherwise.

    A shared view of a teammate is visible but not the user's to delete: PermissionDenied.
    """
    view = SavedView.objects.filter(Q(user=user) | Q(shared=True)).get(pk=view_id)
    if view.user_id != user.pk:
        raise PermissionDenied("Only the person who saved a view can delete it.")
    view.delete()


def bulk_ids_clean(raw: Iterable[str]) -> list[int]:
    """Parse the ticked ids; raises ValidationError on junk, none, or more than MAX_BULK_IDS."""
    values = [v for v in raw if v != ""]
    if not values:
        raise ValidationError("Tick at least one shipment.")
    if len(values) > MAX_BULK_IDS:
        raise ValidationError(f"At most {MAX_BULK_IDS} shipments per action; narrow the filters.")
    try:
        ids = {int(v) for v in values}
    except (TypeError, ValueError):
        raise ValidationError("Shipment ids must be numbers.") from None
    if any(i <= 0 or i > 2**63 - 1 for i in ids):
        raise ValidationError("Shipment ids must be positive numbers.")
    return sorted(ids)


def shipments_bulk_action(*, action: str, shipment_ids: list[int], user) -> int:
    """Run one bulk action on the active tenant's shipments among ``shipment_ids``.

    Ids of other tenants (or missing ones) are dropped before the action runs. Returns the number
    of shipments the action reports as changed.
    """
    if action not in BULK_ACTIONS:
        raise ValidationError("Unknown action.")
    own = list(Shipment.objects.filter(pk__in=shipment_ids).values_list("pk", flat=True))
    if not own:
        return 0
    # Written concurrently by the shipment-actions area: imported when used.
    from dashboard.services import actions

    if action == "retrack":
        return actions.shipments_retrack(shipment_ids=own)
    if action == "resend":
        return actions.shipments_resend(shipment_ids=own, user=user)
    return actions.shipments_stop_tracking(shipment_ids=own, user=user)


def csv_safe(value) -> str:
    """A CSV cell that a spreadsheet shows as text: formula starts get a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
