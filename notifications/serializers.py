"""Validation of a notification policy, shared by the REST API and the dashboard.

One set of rules for what a merchant may store in ``NotificationPolicy``: the API's settings
endpoint and the dashboard's notifications page both validate through ``PolicySerializer``.
"""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import NotificationPolicy, Trigger


class PolicySerializer(serializers.ModelSerializer):
    triggers = serializers.ListField(
        child=serializers.ChoiceField(choices=Trigger.choices), required=False, max_length=20
    )
    delays = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=30 * 24 * 60), required=False
    )
    promotion = serializers.DictField(required=False)

    class Meta:
        model = NotificationPolicy
        fields = [
            "store",
            "enabled",
            "triggers",
            "delays",
            "quiet_start",
            "quiet_end",
            "sender_name",
            "reply_to",
            "delay_discount_code",
            "promotion",
        ]
        read_only_fields = ["store"]

    def validate_delays(self, value: dict) -> dict:
        unknown = set(value) - set(Trigger.values)
        if unknown:
            raise serializers.ValidationError(f"Unknown triggers: {', '.join(sorted(unknown))}.")
        return value

    def validate_promotion(self, value: dict) -> dict:
        allowed = {"title", "text", "image_url", "link_url", "products"}
        if set(value) - allowed:
            raise serializers.ValidationError(f"Keys allowed: {', '.join(sorted(allowed))}.")
        for key in ("image_url", "link_url"):
            url = value.get(key, "")
            if url and not str(url).startswith("https://"):
                raise serializers.ValidationError({key: "Use an https:// address."})
        products = value.get("products", [])
        if not isinstance(products, list) or len(products) > 6:
            raise serializers.ValidationError({"products": "Up to 6 products."})
        if len(str(value)) > 8000:
            raise serializers.ValidationError("The promotion is too long.")
        return value
