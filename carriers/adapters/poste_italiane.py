"""Poste Italiane "Poste Delivery Business" (PDB) tracking, for merchants with a PDB contract.

Flow (base ``https://apiw.gp.posteitaliane.it/gp/internet``; the sandbox is
``https://apid.gp.posteitaliane.it/dev/kindergarden``, chosen with ``credentials["base_url"]``):

1. ``POST {base}/user/sessions`` with JSON ``{clientId, secretId, scope, grantType:
   "client_credentials"}`` answers ``{token_type: "Bearer", access_token, expires_in,
   ext_expires_in}``. The token is cached process-wide per client id (``carriers.http.tokens``)
   until a minute before it expires; a 401 on a data call forgets it and retries once.
2. ``GET {base}/postalandlogistics/parcel/tracking?statusDescription=E&customerType=DQ&
   waybillNumber={n}&lastTracingState=N`` (N: the whole history, S: only the last state) with
   ``Authorization: Bearer <token>``. Every call, the token request included, also carries the
   ``POSTE_ClientID`` header. One waybill per call, no paging, no push.

The answer wraps everything in ``return``: ``{return: {outcome: "OK"|"KO", result: "OK"|"KO",
code, messages[]{messages[]{code, field, message, severity}}, shipment[]{waybillNumber, product,
NotificationFlag, returnFlag, tracking[]{data, status, StatusDescription, appStatusDescription,
synthesisStatusDescription, phase, officeId, officeDescription}}}}``; an unwrapped shipment
object is read too. ``code`` 0 is success, 100-199 a formal error (a malformed waybill number),
200-299 a business error (no such shipment), 999 a generic error (retried).

Each event has a three-letter ``status`` code and a ``phase`` ("IN TRANSITO", or in English
"IN TRANSIT"). The only status code confirmed by public material is PCP (in transit at a Poste
operations centre), so ``CODES`` is short and ``PHASES`` gives the main status of every other
event; the event's words refine it within that phase. ``data`` is "yyyy-MM-dd HH:mm:ss" in
Italian local time (Europe/Rome), without an offset.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from carriers.base import (
    CarrierAdapter,
    CarrierEvent,
    NotThisFormat,
    TrackingBatch,
    TrackingError,
    TrackingResult,
    clean_number,
)
from carriers.codes import fold, guess_from_text
from carriers.http import (
    HttpClient,
    MalformedResponse,
    TerminalError,
    json_body,
    tokens,
)

ROME = ZoneInfo("Europe/Rome")
PRODUCTION_SCOPE = (
    "https://postemarketplace.onmicrosoft.com/d6a78063-5570-4a87-bbd7-07326e6855d1/.default"
)

# tracking[].status -> (status, substatus): the codes confirmed by public PDB material.
CODES: dict[str, tuple[str, str]] = {
    "PCP": ("in_transit", "in_transit.arrived_at_facility"),  # In transito presso il COP
}

# tracking[].phase (Italian and English wording, upper case) -> (status, substatus).
PHASES: dict[str, tuple[str, str]] = {
    "IN LAVORAZIONE": ("info_received", "info_received.label_created"),
    "PROCESSING": ("info_received", "info_received.label_created"),
    "PRESA IN CARICO": ("in_transit", "in_transit.picked_up"),
    "ACCETTAZIONE": ("in_transit", "in_transit.picked_up"),
    "ACCEPTED": ("in_transit", "in_transit.picked_up"),
    "TAKEN IN CHARGE": ("in_transit", "in_transit.picked_up"),
    "IN TRANSITO": ("in_transit", "in_transit.in_transit"),
    "IN TRANSIT": ("in_transit", "in_transit.in_transit"),
    "IN CONSEGNA": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "OUT FOR DELIVERY": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "IN GIACENZA": ("available_for_pickup", "available_for_pickup.post_office"),
    "IN STORAGE": ("available_for_pickup", "available_for_pickup.post_office"),
    "CONSEGNATA": ("delivered", "delivered.delivered"),
    "CONSEGNATO": ("delivered", "delivered.delivered"),
    "DELIVERED": ("delivered", "delivered.delivered"),
    "MANCATA CONSEGNA": ("failed_attempt", "failed_attempt.other"),
    "NOT DELIVERED": ("failed_attempt", "failed_attempt.other"),
    "IN RESTITUZIONE": ("exception", "exception.returning_to_sender"),
    "RETURNING": ("exception", "exception.returning_to_sender"),
    "RESTITUITA AL MITTENTE": ("exception", "exception.returned_to_sender"),
    "RESTITUITO AL MITTENTE": ("exception", "exception.returned_to_sender"),
    "RETURNED TO SENDER": ("exception", "exception.returned_to_sender"),
}
# The statuses an event's words may refine each phase's status into.
REFINES: dict[str, frozenset[str]] = {
    "info_received": frozenset({"info_received"}),
    "in_transit": frozenset(
        {"in_transit", "out_for_delivery", "available_for_pickup", "failed_attempt", "exception"}
    ),
    "out_for_delivery": frozenset({"out_for_delivery", "failed_attempt"}),
    "available_for_pickup": frozenset({"available_for_pickup"}),
    "delivered": frozenset({"delivered"}),
    "failed_attempt": frozenset({"failed_attempt", "exception"}),
    "exception": frozenset({"exception"}),
}


def _error_kind(code: int) -> tuple[str, bool]:
    """(error code, transient) for a non-zero ``return.code``, by Poste's documented ranges."""
    if 100 <= code <= 199:
        return "invalid_number", False
    if 200 <= code <= 299:
        return "not_found", False
    if code == 999:
        return "carrier_error", True
    return f"poste_{code}", False


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _refine(status: str, substatus: str, text: str) -> tuple[str, str]:
    folded = fold(text)
    # Poste's own words for its counters and lockers, which the shared keywords do not know.
    if status == "available_for_pickup" or (
        status == "in_transit" and "ritir" in folded and "ufficio postale" in folded
    ):
        if "locker" in folded:
            return "available_for_pickup", "available_for_pickup.locker"
        if "punto poste" in folded:
            return "available_for_pickup", "available_for_pickup.pickup_point"
        return "available_for_pickup", "available_for_pickup.post_office"
    guessed = guess_from_text(text)
    if guessed and guessed[0] in REFINES.get(status, frozenset()):
        return guessed
    return status, substatus


def _event(raw: dict) -> CarrierEvent:
    code = _text(raw.get("status")).upper()
    phase = fold(_text(raw.get("phase"))).upper()
    description = _text(raw.get("StatusDescription")) or _text(
        raw.get("synthesisStatusDescription")
    )
    words = " ".join(
        _text(raw.get(k)) for k in ("StatusDescription", "synthesisStatusDescription")
    ).strip()
    if code in CODES:
        status, substatus = CODES[code]
        unmapped = False
    elif phase in PHASES:
        status, substatus = _refine(*PHASES[phase], words)
        unmapped = False
    else:
        status, substatus = guess_from_text(words) or ("in_transit", "in_transit.in_transit")
        unmapped = True
    occurred = datetime.strptime(_text(raw["data"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ROME)
    return CarrierEvent(
        occurred_at=occurred,
        status=status,
        substatus=substatus,
        code=code,
        description=description,
        location=_text(raw.get("officeDescription")),
        unmapped=unmapped,
    )


def _shipment(raw: dict, tracking_number: str) -> TrackingResult:
    events = []
    for item in raw.get("tracking") or []:
        if not isinstance(item, dict):
            continue
        try:
            events.append(_event(item))
        except (KeyError, TypeError, ValueError):
            continue  # one malformed event never loses the rest
    result = TrackingResult(
        tracking_number=clean_number(_text(raw.get("waybillNumber")) or tracking_number),
        events=events,
        service=_text(raw.get("product")),
    )
    if not events and _text(raw.get("returnFlag")).upper() == "S":
        result.status, result.substatus = "exception", "exception.returning_to_sender"
    return result


def _messages(envelope: dict) -> str:
    texts = []
    for group in envelope.get("messages") or []:
        items = group.get("messages") if isinstance(group, dict) else None
        for item in items if isinstance(items, list) else [group]:
            if isinstance(item, dict) and _text(item.get("message")):
                texts.append(_text(item.get("message")))
    return "; ".join(texts)


class PosteItalianeAdapter(CarrierAdapter):
    slug = "poste_italiane"
    name = "Poste Italiane (Poste Delivery Business)"
    max_batch_size = 1
    rate_per_second = 2.0
    base_url = "https://apiw.gp.posteitaliane.it/gp/internet"
    tracking_url_template = "https://www.poste.it/cerca/index.html#/risultati-spedizioni/{number}"
    credential_fields = ("client_id", "client_secret")

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not a Poste tracking document")
        number = clean_number(tracking_number)
        batch = TrackingBatch()
        if "waybillNumber" in document and "tracking" in document:  # an unwrapped shipment
            batch.results.append(_shipment(document, number))
            return batch
        envelope = document.get("return")
        if not isinstance(envelope, dict) or not (
            "shipment" in envelope or "outcome" in envelope or "code" in envelope
        ):
            raise NotThisFormat("no 'return' envelope")
        try:
            code = int(envelope.get("code") or 0)
        except (TypeError, ValueError):
            code = 999
        failed = code != 0 or "KO" in (
            _text(envelope.get("outcome")).upper(),
            _text(envelope.get("result")).upper(),
        )
        shipments = [s for s in envelope.get("shipment") or [] if isinstance(s, dict)]
        if failed:
            kind, transient = _error_kind(code or 999)
            message = _messages(envelope) or f"Poste answered code {code}"
            batch.errors.append(TrackingError(number, kind, message, transient))
            return batch
        if not shipments:
            batch.errors.append(TrackingError(number, "not_found", "Poste has no such waybill"))
            return batch
        batch.results.extend(_shipment(s, number) for s in shipments)
        return batch

    # -- client ---------------------------------------------------------------------------
    def _token_key(self, credentials: dict) -> str:
        return f"{self.slug}:{self.endpoint(credentials)}:{credentials.get('client_id', '')}"

    def _fetch_token(self, http: HttpClient, credentials: dict) -> tuple[str, float]:
        client_id = str(credentials.get("client_id", ""))
        response = http.post(
            f"{self.endpoint(credentials)}/user/sessions",
            json={
                "clientId": client_id,
                "secretId": str(credentials.get("client_secret", "")),
                "scope": credentials.get("scope") or PRODUCTION_SCOPE,
                "grantType": "client_credentials",
            },
            headers={"POSTE_ClientID": client_id, "Accept": "application/json"},
        )
        if 400 <= response.status_code < 500:
            raise TerminalError(
                f"Poste refused the client credentials (HTTP {response.status_code})",
                status=response.status_code,
            )
        answer = json_body(response)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            raise MalformedResponse("Poste token answer has no access_token")
        return str(token), float(answer.get("expires_in") or 3600)

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        key = self._token_key(credentials)
        batch = TrackingBatch()
        for number in tracking_numbers:
            response = None
            for attempt in range(2):
                token = tokens.get(key, lambda: self._fetch_token(http, credentials))
                try:
                    response = http.get(
                        f"{self.endpoint(credentials)}/postalandlogistics/parcel/tracking",
                        params={
                            "statusDescription": "E",
                            "customerType": "DQ",
                            "waybillNumber": clean_number(number),
                            "lastTracingState": "N",
                        },
                        headers={
                            "Authorization": f"Bearer {token}",
                            "POSTE_ClientID": str(credentials.get("client_id", "")),
                            "Accept": "application/json",
                        },
                    )
                    break
                except TerminalError as exc:
                    tokens.forget(key)  # an expired or revoked token: ask for a new one once
                    if exc.status != 401 or attempt:
                        raise
            json_body(response)  # a 2xx body that is not JSON is a transient carrier fault
            try:
                parsed = self.parse(response.content, tracking_number=number)
            except NotThisFormat as exc:
                raise MalformedResponse(f"Poste answered an unexpected body: {exc}") from exc
            batch.extend(parsed)
        return batch


ADAPTER = PosteItalianeAdapter()
