"""REST API: the tenant's analytics figures over a period (``GET /api/v1/analytics/``).

The figures and their definitions are ``dashboard.services.analytics`` (the dashboard's charts
show the same numbers). Agent keys may read. ``from``/``to`` are inclusive days in the tenant's
time zone; without them, the last 30 days. A bad date, ``from`` after ``to`` or a period longer
than 366 days answers 400 in the API's error shape.
"""

from __future__ import annotations

import dataclasses

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboard.services.analytics import (
    MAX_DAYS,
    PeriodError,
    analytics_figures,
    period_parse,
)
from wismo.api.permissions import HasTenantApiKey
from wismo.api.views import TenantScopedMixin

# -- input ---------------------------------------------------------------------------------------


class AnalyticsQuerySerializer(serializers.Serializer):
    """``from`` and ``to`` (both or neither), YYYY-MM-DD."""

    def get_fields(self):
        # "from" is a Python keyword: the fields are named here rather than declared.
        return {
            "from": serializers.DateField(required=False, input_formats=["%Y-%m-%d"]),
            "to": serializers.DateField(required=False, input_formats=["%Y-%m-%d"]),
        }


# -- output --------------------------------------------------------------------------------------


class AnalyticsPeriodSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day (inclusive).")
    end = serializers.DateField(help_text="Last day (inclusive).")
    days = serializers.IntegerField()
    timezone = serializers.CharField(source="tz", help_text="The tenant's time zone.")
    bucket = serializers.ChoiceField(
        choices=["day", "week"], help_text="How the status series is grouped."
    )


class AnalyticsTotalsSerializer(serializers.Serializer):
    shipments = serializers.IntegerField(help_text="Shipments created in the period.")
    in_transit = serializers.IntegerField()
    delivered = serializers.IntegerField()
    exceptions = serializers.IntegerField(help_text="In exception now or at some point.")
    exception_rate = serializers.FloatField(allow_null=True, help_text="0..1")
    on_time = serializers.IntegerField()
    on_time_known = serializers.IntegerField(help_text="Delivered shipments with a promise date.")
    on_time_rate = serializers.FloatField(allow_null=True, help_text="0..1")
    avg_processing_days = serializers.FloatField(
        allow_null=True, help_text="Order placed -> shipped."
    )
    avg_transit_days = serializers.FloatField(allow_null=True, help_text="Shipped -> delivered.")
    wismo_contacts = serializers.IntegerField()
    wismo_rate = serializers.FloatField(allow_null=True, help_text="Contacts per 100 shipments.")
    emails_sent = serializers.IntegerField()
    page_views = serializers.IntegerField()


class AnalyticsGroupSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='The carrier slug, or the lane as "FR -> DE".')
    shipments = serializers.IntegerField()
    delivered = serializers.IntegerField()
    exceptions = serializers.IntegerField()
    exception_rate = serializers.FloatField(allow_null=True)
    on_time = serializers.IntegerField()
    on_time_known = serializers.IntegerField()
    on_time_rate = serializers.FloatField(allow_null=True)
    avg_processing_days = serializers.FloatField(allow_null=True)
    avg_transit_days = serializers.FloatField(allow_null=True)
    wismo_contacts = serializers.IntegerField()
    wismo_rate = serializers.FloatField(allow_null=True)


class AnalyticsStatusBucketSerializer(serializers.Serializer):
    bucket = serializers.DateField(help_text="The day, or the Monday of the week.")
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Shipments by their status now."
    )


class AnalyticsWismoRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='A status, or "notified" / "not_notified".')
    contacts = serializers.IntegerField()
    shipments = serializers.IntegerField(help_text="The rate's denominator.")
    rate = serializers.FloatField(allow_null=True, help_text="Contacts per 100 shipments.")


class AnalyticsTriggerRowSerializer(serializers.Serializer):
    trigger = serializers.CharField()
    sent = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()


class AnalyticsEmailsSerializer(serializers.Serializer):
    sent = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()
    bounced = serializers.IntegerField()
    open_rate = serializers.FloatField(allow_null=True)
    click_rate = serializers.FloatField(allow_null=True)
    by_trigger = AnalyticsTriggerRowSerializer(many=True)


class AnalyticsDayViewsSerializer(serializers.Serializer):
    day = serializers.DateField()
    views = serializers.IntegerField()


class AnalyticsPageViewsSerializer(serializers.Serializer):
    views = serializers.IntegerField()
    shipments_viewed = serializers.IntegerField()
    views_per_viewed_shipment = serializers.FloatField(allow_null=True)
    views_per_shipment = serializers.FloatField(allow_null=True)
    by_day = AnalyticsDayViewsSerializer(many=True)


class AnalyticsBacktestScoreSerializer(serializers.Serializer):
    n = serializers.IntegerField(allow_null=True, help_text="Parcels scored.")
    range_hit_rate = serializers.FloatField(allow_null=True, help_text="Inside the range, 0..1.")
    exact_day_hit_rate = serializers.FloatField(allow_null=True, help_text="0..1")
    mae_days = serializers.FloatField(allow_null=True, help_text="Mean absolute error, days.")
    median_range_width_days = serializers.IntegerField(allow_null=True)
    naive_exact_day_hit_rate = serializers.FloatField(allow_null=True)
    naive_mae_days = serializers.FloatField(allow_null=True)


class AnalyticsBacktestSerializer(serializers.Serializer):
    overall = AnalyticsBacktestScoreSerializer()
    carriers = serializers.DictField(child=AnalyticsBacktestScoreSerializer())


class AnalyticsAccuracySerializer(serializers.Serializer):
    range_n = serializers.IntegerField(help_text="Delivered shipments with a stored range.")
    range_hits = serializers.IntegerField()
    range_hit_rate = serializers.FloatField(allow_null=True)
    backtest = AnalyticsBacktestSerializer(
        allow_null=True, help_text="The last EDD backtest, if any."
    )
    backtested_at = serializers.DateTimeField(allow_null=True)


class AnalyticsSerializer(serializers.Serializer):
    period = AnalyticsPeriodSerializer()
    totals = AnalyticsTotalsSerializer()
    status_series = AnalyticsStatusBucketSerializer(many=True)
    by_carrier = AnalyticsGroupSerializer(many=True)
    by_lane = AnalyticsGroupSerializer(many=True)
    wismo_by_status = AnalyticsWismoRowSerializer(many=True)
    wismo_by_notified = AnalyticsWismoRowSerializer(many=True)
    emails = AnalyticsEmailsSerializer()
    page_views = AnalyticsPageViewsSerializer()
    accuracy = AnalyticsAccuracySerializer()
    computed_at = serializers.DateTimeField()


class AnalyticsErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text='"invalid"')
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='"from", "to" or "non_field_errors" -> messages.',
    )


class AnalyticsErrorSerializer(serializers.Serializer):
    error = AnalyticsErrorBodySerializer()


def _as_data(figures) -> dict:
    data = dataclasses.asdict(figures)
    period = figures.period
    data["period"] = {
        "start": period.start,
        "end": period.end,
        "days": period.days,
        "tz": period.tz,
        "bucket": period.bucket,
    }
    return data


class AnalyticsView(TenantScopedMixin, APIView):
    """The tenant's analytics over a period (agent keys may read)."""

    permission_classes = [HasTenantApiKey]

    @extend_schema(
        tags=["analytics"],
        operation_id="analytics_retrieve",
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATE,
                OpenApiParameter.QUERY,
                description="First day, YYYY-MM-DD (with `to`). Default: 30 days ago.",
            ),
            OpenApiParameter(
                "to",
                OpenApiTypes.DATE,
                OpenApiParameter.QUERY,
                description=f"Last day, YYYY-MM-DD (inclusive, at most {MAX_DAYS} days).",
            ),
        ],
        responses={
            200: AnalyticsSerializer,
            400: OpenApiResponse(
                AnalyticsErrorSerializer,
                description="A bad date, from after to, only one of them, or a period longer "
                f"than {MAX_DAYS} days.",
            ),
        },
    )
    def get(self, request):
        query = AnalyticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            period = period_parse(
                tenant=self.tenant,
                start=query.validated_data.get("from"),
                end=query.validated_data.get("to"),
            )
        except PeriodError as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from None
        figures = analytics_figures(tenant=self.tenant, period=period)
        return Response(AnalyticsSerializer(_as_data(figures)).data)
