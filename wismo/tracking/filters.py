"""The shipment list's filters, shared by the dashboard list, its CSV export and the API list.

One ``django_filters.FilterSet`` validates the query string (a bad value is a form error, i.e. a
400 on the API and a message on the page, never a 500) and narrows a tenant-scoped queryset. It
never orders: each caller owns its ordering and its keyset pagination.

Date bounds are days in the tenant's time zone, turned into half-open datetime ranges
(``>= start of from``, ``< start of the day after to``) so the ``created_at`` index stays usable.
"""

from __future__ import annotations

import copy
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters.constants import EMPTY_VALUES

from carriers.detection import compact
from carriers.statuses import STATUS_LABELS, Status
from wismo.tracking.models import Order, Shipment, ShopConnection

STATUS_FILTER_CHOICES = [(status.value, STATUS_LABELS[status]) for status in Status]


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 datetime with any valid offset (ISO allows up to ±23:59), compared in UTC:
    PostgreSQL refuses offsets beyond ±15:59, so the value is never sent with its own."""

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except (OverflowError, ValueError):
                # Year 1 minus an offset, or 9999 plus one: nothing was updated then.
                return qs.none() if value.year <= 1 else qs
        return super().filter(qs, value)


def search_q(term: str) -> Q:
    """Exact match on a tracking number (separators ignored), order number or email.

    The orders are looked up first (order numbers by the (tenant, order_number) index; an email,
    only when the term has an "@", case-insensitively as the API always did) so that the
    shipments query is an OR of two indexed conditions, not an OR across a join, which no index
    serves.
    """
    term = term.strip()
    number = compact(term)
    orders = Q(order_number=term)
    if "@" in term:
        orders |= Q(customer_email__iexact=term)
    order_ids = list(Order.objects.filter(orders).values_list("pk", flat=True)[:1000])
    return Q(tracking_number=number) | Q(order_id__in=order_ids)


_NO_BOUND = Q()  # a condition that narrows nothing (a date bound beyond the calendar)
_Q_METHODS = {
    "filter_from": "q_from",
    "filter_to": "q_to",
    "filter_country": "q_country",
    "filter_exception": "q_exception",
}
# Filters whose filter() is exactly ``qs.filter(**{field__lookup: value})``.
_PLAIN_FILTERS = (
    django_filters.ChoiceFilter,
    django_filters.CharFilter,
    django_filters.BooleanFilter,
)


def _apply(queryset: QuerySet, condition) -> QuerySet:
    return queryset if condition is _NO_BOUND else queryset.filter(condition)


class _SharedFields(dict):
    """A form's fields that its instances share instead of deep-copying 18 of them (choices,
    widgets) per request. Safe here: validating never changes a field, and nothing renders or
    edits this form's fields (the list page draws its own controls)."""

    def __deepcopy__(self, memo) -> dict:
        return dict(self)


class _GivenFieldsForm(forms.Form):
    """Validates only the filters the query string gives. An absent filter filters nothing,
    and checking all 18 (a bound field and a clean each) cost more than applying the few set."""

    def _clean_fields(self) -> None:
        for name, field in self.fields.items():
            if self.add_prefix(name) not in self.data:
                continue
            try:
                self.cleaned_data[name] = field._clean_bound_field(self[name])
            except ValidationError as exc:
                self.add_error(name, exc)


class ShipmentFilter(django_filters.FilterSet):
    """Filters of the shipment list; every one optional, all of them combined with AND."""

    status = django_filters.ChoiceFilter(choices=STATUS_FILTER_CHOICES, label="Status")
    substatus = django_filters.CharFilter(
        max_length=64, label="Reason", help_text="A substatus such as exception.customs_hold."
    )
    carrier = django_filters.CharFilter(max_length=40, label="Carrier")
    store = django_filters.NumberFilter(
        field_name="store_id",
        method="filter_store",
        min_value=1,
        max_value=2**63 - 1,
        decimal_places=0,
        label="Store id",
    )
    destination_country = django_filters.CharFilter(
        max_length=2, method="filter_country", label="Destination country (ISO 3166-1 alpha-2)"
    )
    created_from = django_filters.DateFilter(
        field_name="created_at", method="filter_from", label="Created on or after (date)"
    )
    created_to = django_filters.DateFilter(
        field_name="created_at", method="filter_to", label="Created on or before (date)"
    )
    shipped_from = django_filters.DateFilter(
        field_name="shipped_at", method="filter_from", label="Shipped on or after (date)"
    )
    shipped_to = django_filters.DateFilter(
        field_name="shipped_at", method="filter_to", label="Shipped on or before (date)"
    )
    delayed = django_filters.BooleanFilter(field_name="is_delayed", label="Delayed")
    stalled = django_filters.BooleanFilter(field_name="is_stalled", label="Stalled")
    never_scanned = django_filters.BooleanFilter(field_name="never_scanned", label="Never scanned")
    exception = django_filters.BooleanFilter(method="filter_exception", label="In exception")
    action_required = django_filters.BooleanFilter(label="Shopper action required")
    active = django_filters.BooleanFilter(field_name="is_active", label="Still tracked")
    q = django_filters.CharFilter(
        max_length=200, method="filter_q", label="Tracking number, order number or email (exact)"
    )
    updated_since = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", label="Updated at or after"
    )

    class Meta:
        model = Shipment
        fields: list[str] = []
        form = _GivenFieldsForm

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # django-filter deep-copies every declared filter per instance (choices, extras and all:
        # ~1 ms of a ~5 ms API list). A shallow copy each is enough: a copy only gets its own
        # parent and model, and a method filter is re-bound to its copy.
        self.base_filters = {}  # shadows the class's for super(), which copies nothing then
        super().__init__(data, queryset, request=request, prefix=prefix)
        del self.base_filters
        model = self.queryset.model
        self.filters = {}
        for name, declared in self.base_filters.items():
            filter_ = copy.copy(declared)
            filter_.method = declared.method  # a new FilterMethod bound to the copy
            filter_.model = model
            filter_.parent = self
            self.filters[name] = filter_

    def get_form_class(self):
        # The form's fields depend on the declared filters only: build the class once, not on
        # every request, and let its instances share the fields (below).
        cls = type(self)
        form_class = cls.__dict__.get("_form_class_cache")
        if form_class is None:
            form_class = super().get_form_class()
            form_class.base_fields = _SharedFields(form_class.base_fields)
            cls._form_class_cache = form_class
        return form_class

    def _tz(self):
        request = self.request
        tenant = getattr(request, "tenant", None) if request is not None else None
        if tenant is None and request is not None:
            tenant = getattr(getattr(request, "user", None), "tenant", None)
        name = getattr(tenant, "timezone", "") or ""
        try:
            return zoneinfo.ZoneInfo(name) if name else timezone.get_current_timezone()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return timezone.get_current_timezone()

    def _start_of(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self._tz())

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # One ``filter()`` with every plain condition instead of one per filter (each call
        # clones the query and resolves its lookups: ~50 us apiece on an API list). Filters
        # that query (store, q) or convert (updated_since) keep django-filter's own path.
        conditions = []
        for name, value in self.form.cleaned_data.items():
            if value in EMPTY_VALUES:
                continue
            filter_ = self.filters[name]
            condition = self._condition(filter_, value)
            if condition is None:
                queryset = filter_.filter(queryset, value)
            elif condition is not _NO_BOUND:
                conditions.append(condition)
        return queryset.filter(*conditions) if conditions else queryset

    def _condition(self, filter_, value):
        """``filter_``'s condition as a Q, ``_NO_BOUND`` for none, None: apply it as it is."""
        method = filter_.method
        if isinstance(method, str):
            q_method = _Q_METHODS.get(method)
            return getattr(self, q_method)(filter_.field_name, value) if q_method else None
        if type(filter_) in _PLAIN_FILTERS and not filter_.exclude and not filter_.distinct:
            if isinstance(filter_, django_filters.ChoiceFilter) and value == filter_.null_value:
                return None
            return Q(**{f"{filter_.field_name}__{filter_.lookup_expr}": value})
        return None

    def q_from(self, name: str, value: date):
        if value <= date.min + timedelta(days=1):  # before any time zone's first day: no bound
            return _NO_BOUND
        return Q(**{f"{name}__gte": self._start_of(value)})

    def q_to(self, name: str, value: date):
        if value >= date.max - timedelta(days=1):  # the day after may not exist: no bound
            return _NO_BOUND
        return Q(**{f"{name}__lt": self._start_of(value + timedelta(days=1))})

    def q_country(self, name: str, value: str) -> Q:
        return Q(destination_country=value.strip().upper())

    def q_exception(self, name: str, value: bool) -> Q:
        return Q(status=Status.EXCEPTION) if value else ~Q(status=Status.EXCEPTION)

    # django-filter's method filters, for a caller that applies one filter alone.
    def filter_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return _apply(queryset, self.q_from(name, value))

    def filter_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return _apply(queryset, self.q_to(name, value))

    def filter_country(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _apply(queryset, self.q_country(name, value))

    def filter_exception(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return _apply(queryset, self.q_exception(name, value))

    def filter_store(self, queryset: QuerySet, name: str, value) -> QuerySet:
        # Another tenant's (or a missing) store matches nothing: answer that without scanning.
        if not ShopConnection.objects.filter(pk=int(value)).exists():
            return queryset.none()
        return queryset.filter(store_id=int(value))

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(search_q(value)) if value.strip() else queryset
