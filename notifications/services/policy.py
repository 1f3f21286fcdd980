"""Which emails a store sends and when: its policy (or the tenant's, or the defaults).

``schedule_time`` adds the trigger's delay and moves a send time that falls in the quiet hours
to their end. Quiet hours are read in the shopper's timezone: shop platforms do not send it,
so it is the destination country's when that country has one zone, else the tenant's.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifications.models import NotificationPolicy


def policy_for(*, tenant, store_id: int | None) -> NotificationPolicy:
    """The store's own policy, else the tenant's, else the defaults (not saved)."""
    policies = {
        p.store_id: p
        for p in NotificationPolicy.objects.filter(tenant=tenant, store_id__in=[store_id])
        | NotificationPolicy.objects.filter(tenant=tenant, store__isnull=True)
    }
    return policies.get(store_id) or policies.get(None) or NotificationPolicy(tenant=tenant)


def _in_quiet(moment: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # across midnight, e.g. 21:00-08:00


# Countries with a single time zone (mainland), by ISO code: enough to keep quiet hours quiet.
COUNTRY_ZONES = {
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia", "CH": "Europe/Zurich",
    "CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DE": "Europe/Berlin", "DK": "Europe/Copenhagen",
    "EE": "Europe/Tallinn", "ES": "Europe/Madrid", "FI": "Europe/Helsinki", "FR": "Europe/Paris",
    "GB": "Europe/London", "GR": "Europe/Athens", "HR": "Europe/Zagreb", "HU": "Europe/Budapest",
    "IE": "Europe/Dublin", "IT": "Europe/Rome", "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg",
    "LV": "Europe/Riga", "MT": "Europe/Malta", "NL": "Europe/Amsterdam", "NO": "Europe/Oslo",
    "PL": "Europe/Warsaw", "PT": "Europe/Lisbon", "RO": "Europe/Bucharest", "SE": "Europe/Stockholm",
    "SI": "Europe/Ljubljana", "SK": "Europe/Bratislava", "SM": "Europe/San_Marino",
    "VA": "Europe/Vatican", "JP": "Asia/Tokyo", "IN": "Asia/Kolkata", "CN": "Asia/Shanghai",
    "NZ": "Pacific/Auckland", "ZA": "Africa/Johannesburg", "IL": "Asia/Jerusalem",
}  # fmt: skip


def shopper_zone(country: str, tenant) -> ZoneInfo:
    name = COUNTRY_ZONES.get((country or "").upper()) or tenant.timezone or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def schedule_time(
    policy: NotificationPolicy, trigger: str, when: datetime, tenant, country: str = ""
) -> datetime:
    """When an email for ``trigger`` about something at ``when`` may go out."""
    minutes = (policy.delays or {}).get(trigger, 0)
    try:
        minutes = max(0, min(int(minutes), 30 * 24 * 60))
    except (TypeError, ValueError):
        minutes = 0
    moment = when + timedelta(minutes=minutes)
    if policy.quiet_start is None or policy.quiet_end is None:
        return moment
    zone = shopper_zone(country, tenant)
    local = moment.astimezone(zone)
    if not _in_quiet(local.time(), policy.quiet_start, policy.quiet_end):
        return moment
    end = datetime.combine(local.date(), policy.quiet_end, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), policy.quiet_end, tzinfo=zone)
    return end.astimezone(moment.tzinfo)
