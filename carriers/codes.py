"""Mapping carrier codes onto the taxonomy, with a safe keyword fallback for unknown codes.

Each adapter keeps its raw-code table as data: ``{code: (status, substatus)}``, written to be
checked line by line against the carrier's documentation. A code that is not in the table is
mapped from the event's words (in English, Italian, German, French, Spanish and Dutch) and the
event is marked ``unmapped`` so the kernel counts it per carrier; with no telling word at all the
safe default is "in transit": the parcel exists and is moving, nothing more is claimed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

CodeTable = Mapping[str, tuple[str, str]]

# Checked in order: the first pattern found in the text wins, so specific phrases come first.
_KEYWORDS: list[tuple[str, str, str]] = [
    (
        "exception",
        "exception.returned_to_sender",
        r"(?<!being )returned to (the )?sender|retour(ne)? (a|à) l.exp|reso al mittente|zuruck(gesandt| an absender)|devuelto al remitente|retour afzender",
    ),
    (
        "exception",
        "exception.returning_to_sender",
        r"return(ing)? to (the )?sender|in restituzione|rucksendung|retour|devolucion|return",
    ),
    (
        "exception",
        "exception.held_for_payment",
        r"dut(y|ies)|tax(es)? (due|to pay)|payment (required|due)|pagamento|dazi|zollgebuhr|droits de douane|aranceles",
    ),
    (
        "exception",
        "exception.customs_hold",
        r"held (by|in|at) customs|customs (hold|delay|inspection)|fermo (in )?dogana|zoll(kontrolle| angehalten)|retenu en douane|retenido en aduana",
    ),
    (
        "in_transit",
        "in_transit.customs_released",
        r"(released|cleared) (by|from)? ?customs|customs clearance (complete|completed)|sdoganat|verzollt|dedouane|despachado",
    ),
    ("in_transit", "in_transit.customs_processing", r"customs|dogana|zoll|douane|aduana|douane"),
    (
        "exception",
        "exception.address_issue",
        r"(incorrect|incomplete|insufficient|wrong|bad) address|address (issue|problem|unknown)|indirizzo (errato|incompleto)|adresse (falsch|unbekannt|incorrecte|incomplete)|direccion (incorrecta|incompleta)",
    ),
    ("exception", "exception.refused", r"refused|rifiutat|verweigert|refuse|rechazado|geweigerd"),
    ("exception", "exception.damaged", r"damaged|danneggiat|beschadig|beschadigt|endommage|danado"),
    ("exception", "exception.lost", r"\blost\b|smarrit|verloren|perdu|extraviado|vermist"),
    ("exception", "exception.delayed_weather", r"weather|maltempo|wetter|meteo|intemperie|clima"),
    (
        "exception",
        "exception.cancelled",
        r"cancel+ed|annullat|storniert|annule|cancelado|geannuleerd",
    ),
    (
        "failed_attempt",
        "failed_attempt.business_closed",
        r"business (was )?closed|closed on arrival|azienda chiusa|geschaft geschlossen|ferme lors|cerrado",
    ),
    (
        "failed_attempt",
        "failed_attempt.recipient_unavailable",
        r"(receiver|recipient|customer|consignee) (was )?not (available|home|in)|no one (was )?(available|home)",
    ),
    (
        "exception",
        "exception.address_issue",
        r"address (is |was )?(incomplete|incorrect|insufficient|invalid)",
    ),
    (
        "available_for_pickup",
        "available_for_pickup.locker",
        r"locker|packstation|armadietto|consigne|casillero|pakketautomaat",
    ),
    (
        "available_for_pickup",
        "available_for_pickup.pickup_point",
        r"access point.*(pick ?up|collection)|(awaiting|ready for) (customer )?(pick ?up|collection)",
    ),
    (
        "available_for_pickup",
        "available_for_pickup.pickup_point",
        r"(ready|available|awaiting) (for )?(collection|pick ?up)|pickup point|parcel ?shop|punto di ritiro|in giacenza|abholbereit|filiale.*abholung|point relais|disponible.*retrait|listo para recoger|afhaalpunt",
    ),
    (
        "failed_attempt",
        "failed_attempt.recipient_unavailable",
        r"not (at )?home|no one (available|home)|recipient (not available|unavailable|absent)|destinatario assente|nicht angetroffen|absent|ausente|niet thuis|attempted|notice left|avviso",
    ),
    (
        "failed_attempt",
        "failed_attempt.other",
        r"delivery attempt|attempted delivery|attempt(ed)? to deliver|attempt (was )?(made|failed|unsuccessful)|tentata consegna|zustellversuch|tentative de livraison|intento de entrega|bezorgpoging|undeliverable|not delivered|mancata consegna|non consegnat",
    ),
    ("delivered", "delivered.neighbor", r"neighbo(u)?r|vicino|nachbar|voisin|vecino|buren"),
    (
        "delivered",
        "delivered.safe_place",
        r"safe ?place|luogo sicuro|ablageort|lieu sur|lugar seguro",
    ),
    (
        "delivered",
        "delivered.delivered",
        r"\bdelivered\b|consegnat|zugestellt|livre|entregado|bezorgd|geleverd",
    ),
    (
        "out_for_delivery",
        "out_for_delivery.out_for_delivery",
        r"out for delivery|on (the )?vehicle for delivery|delivery vehicle|zustellfahrzeug|with (delivery )?courier|in consegna|in zustellung|en cours de livraison|en reparto|wordt bezorgd|onderweg naar",
    ),
    (
        "info_received",
        "info_received.label_created",
        r"label (created|printed)|shipping label|electronic (notification|information)|pre.?advice|manifest|shipment information received|spedizione registrata|daten (ubermittelt|erhalten)|informations? (recues|reçues)|preadmision|voorgemeld|awaiting item",
    ),
    (
        "in_transit",
        "in_transit.picked_up",
        r"picked up|pick-?up scan|collected|accepted|ritirat|accettat|abgeholt|eingeliefert|pris en charge|admitido|recogido|opgehaald|aangenomen",
    ),
    (
        "in_transit",
        "in_transit.arrived_destination_country",
        r"arrived (in|at) (the )?destination country|arrivato nel paese di destinazione|im zielland|arrive dans le pays de destination|llegada al pais de destino",
    ),
    (
        "in_transit",
        "in_transit.departed_facility",
        r"depart|left|partit|verlassen|parti|salida|vertrokken",
    ),
    (
        "in_transit",
        "in_transit.arrived_at_facility",
        r"arrived|arrival|hub|sort|depot|processed|parcel cent(er|re)|paketzentrum|smistamento|arrivat|eingetroffen|arrive|llegada|aangekomen|sorteer",
    ),
]
_COMPILED = [(status, substatus, re.compile(pattern)) for status, substatus, pattern in _KEYWORDS]
SAFE_DEFAULT = ("in_transit", "in_transit.in_transit")


def fold(text: str) -> str:
    """Lower case without accents: 'Zugestellt à Paris' -> 'zugestellt a paris'."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def guess_from_text(text: str) -> tuple[str, str] | None:
    """The status a carrier's words suggest, or None when no keyword is found."""
    folded = fold(text)
    for status, substatus, pattern in _COMPILED:
        if pattern.search(folded):
            return status, substatus
    return None


def map_code(table: CodeTable, code: str, text: str = "") -> tuple[str, str, bool]:
    """(status, substatus, unmapped) for a raw carrier code and its text.

    Known codes come from ``table``; unknown ones from the words, else the safe default.
    """
    key = code.strip()
    if key in table:
        status, substatus = table[key]
        return status, substatus, False
    if key.upper() in table:
        status, substatus = table[key.upper()]
        return status, substatus, False
    status, substatus = guess_from_text(text) or SAFE_DEFAULT
    return status, substatus, True
