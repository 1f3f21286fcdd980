"""Ready replies: what an agent pastes back to a shopper who asked "where is my order?".

Written in the shopper's language (the order's locale, else the tenant's default; en, it, es, de,
fr). Status words, reasons and the greeting and sign-off come from ``wismo.tracking.labels``
(shared with the emails and pages); this module adds only the sentences a reply needs. Dates are
formatted in that language and in the tenant's time zone, like the emails.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from carriers.statuses import Status
from notifications.services.context import format_date
from wismo.tracking import labels
from wismo.tracking.models import Shipment


def _t(*, en: str, it: str, es: str, de: str, fr: str) -> dict[str, str]:
    return {"en": en, "it": it, "es": es, "de": de, "fr": fr}


WORDS: dict[str, dict[str, str]] = {
    "intro_order": _t(
        en="Thank you for getting in touch. Here is the latest news on your order {number}.",
        it="Grazie per averci contattato. Ecco le ultime notizie sul tuo ordine {number}.",
        es="Gracias por escribirnos. Estas son las últimas novedades de tu pedido {number}.",
        de="Vielen Dank für Ihre Nachricht. Hier ist der aktuelle Stand Ihrer Bestellung {number}.",
        fr="Merci de nous avoir contactés. Voici les dernières nouvelles de votre commande {number}.",
    ),
    "intro_parcel": _t(
        en="Thank you for getting in touch. Here is the latest news on your parcel.",
        it="Grazie per averci contattato. Ecco le ultime notizie sul tuo pacco.",
        es="Gracias por escribirnos. Estas son las últimas novedades de tu paquete.",
        de="Vielen Dank für Ihre Nachricht. Hier ist der aktuelle Stand Ihres Pakets.",
        fr="Merci de nous avoir contactés. Voici les dernières nouvelles de votre colis.",
    ),
    "status_line": _t(
        en="Status: {status}.",
        it="Stato: {status}.",
        es="Estado: {status}.",
        de="Status: {status}.",
        fr="Statut : {status}.",
    ),
    "expected_on": _t(
        en="Expected delivery: {date}.",
        it="Consegna prevista: {date}.",
        es="Entrega prevista: {date}.",
        de="Voraussichtliche Zustellung: {date}.",
        fr="Livraison prévue : {date}.",
    ),
    "expected_between": _t(
        en="Expected delivery: between {start} and {end}.",
        it="Consegna prevista: tra il {start} e il {end}.",
        es="Entrega prevista: entre el {start} y el {end}.",
        de="Voraussichtliche Zustellung: zwischen {start} und {end}.",
        fr="Livraison prévue : entre le {start} et le {end}.",
    ),
    "delivered_on": _t(
        en="Delivered on {date}.",
        it="Consegnato il {date}.",
        es="Entregado el {date}.",
        de="Zugestellt am {date}.",
        fr="Livré le {date}.",
    ),
    "follow": _t(
        en="You can follow your parcel at any time here: {url}",
        it="Puoi seguire il tuo pacco in qualsiasi momento qui: {url}",
        es="Puedes seguir tu paquete en cualquier momento aquí: {url}",
        de="Sie können Ihr Paket jederzeit hier verfolgen: {url}",
        fr="Vous pouvez suivre votre colis à tout moment ici : {url}",
    ),
}


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    language: str
    tracking_url: str


def reply_language(shipment: Shipment) -> str:
    """The shopper's language: the order's locale, else the tenant's default, else English."""
    order = shipment.order
    return labels.pick_language(order.locale if order else None, shipment.tenant.default_language)


def tracking_page_url(shipment: Shipment) -> str:
    """The shipment's public page: on the tenant's own domain when it has one (DESIGN.md §4)."""
    tenant = shipment.tenant
    if tenant.custom_domain:
        return f"https://{tenant.custom_domain.lower()}/{shipment.public_token}/"
    base = settings.WISMO_BASE_URL.rstrip("/")
    return f"{base}/t/{tenant.slug}/{shipment.public_token}/"


def _word(key: str, language: str, **values: str) -> str:
    texts = WORDS[key]
    return texts.get(language, texts["en"]).format(**values)


def _expected(shipment: Shipment, language: str) -> str:
    tenant = shipment.tenant
    if shipment.status == Status.DELIVERED:
        if shipment.delivered_at:
            return _word(
                "delivered_on", language, date=format_date(shipment.delivered_at, language, tenant)
            )
        return ""
    earliest, latest = shipment.estimated_delivery_earliest, shipment.estimated_delivery_latest
    if earliest and latest and earliest != latest:
        return _word(
            "expected_between",
            language,
            start=format_date(earliest, language, tenant),
            end=format_date(latest, language, tenant),
        )
    day = shipment.estimated_delivery or latest or earliest
    if day:
        return _word("expected_on", language, date=format_date(day, language, tenant))
    return ""


def ready_reply(*, shipment: Shipment, language: str | None = None) -> Reply:
    """The text an agent sends back: greeting, status and reason, expected date, page link."""
    language = labels.pick_language(language) if language else reply_language(shipment)
    order = shipment.order
    words = labels.ui_words(language)
    name = (order.customer_name.split() or [""])[0] if order and order.customer_name else ""
    greeting = words["greeting"].replace("{name}", name) if name else words["greeting_anonymous"]
    if order and order.order_number:
        intro = _word("intro_order", language, number=order.order_number)
    else:
        intro = _word("intro_parcel", language)
    status_lines = [
        _word("status_line", language, status=labels.status_label(shipment.status, language))
    ]
    reason = labels.substatus_text(shipment.substatus, language)
    if reason:
        status_lines.append(reason)
    expected = _expected(shipment, language)
    if expected:
        status_lines.append(expected)
    url = tracking_page_url(shipment)
    sign_off = words["sign_off"].replace("{store}", shipment.tenant.name)
    paragraphs = [
        greeting,
        intro,
        "\n".join(status_lines),
        _word("follow", language, url=url),
        sign_off,
    ]
    return Reply(text="\n\n".join(paragraphs), language=language, tracking_url=url)
