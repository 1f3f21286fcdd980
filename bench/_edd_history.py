"""A generated delivery history for bench/edd.py: 10 carriers, 40 lanes, realistic effects.

Each parcel's truth, drawn with a seeded random generator:

- shipped on a weekday mostly (a little on Saturdays), at a local hour from 08:00 to 21:59; a
  parcel shipped after the carrier's 17:00 (UPS, FedEx: 18:00) collection, or on a day off,
  starts the next working day;
- a base transit time per lane and carrier (domestic 1 business day, neighbours 2, further 3,
  across a customs border 4-5), plus a carrier-specific spread (postal operators wider), plus a
  remote-area day for two postcode areas per country;
- weekday effect: journeys starting on a Monday (the weekend's parcels) wait a day in 25% of cases;
- seasons: the pre-Christmas peak (20 Nov - 23 Dec) adds a day to 40% of parcels and two to
  10%; August adds a day to 30% of parcels to Italy, France and Spain; early January to 20%;
- delivery only on the carrier's working days of the destination country, public holidays off
  (the ``holidays`` library: the same facts the model is given, not its fitted parameters);
  Royal Mail, PostNL, La Poste and DHL also deliver on Saturdays;
- 3% need a second attempt (a failed attempt, then delivery the next working day) and 5% go to a
  pickup point, collected 0-4 working days later.

Events per parcel: label created, picked up, a facility scan, arrival in the destination country
(cross-border lanes), out for delivery, then delivered (or failed attempt / pickup point first).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from wismo.tracking.edd.calendar import calendar, zone

CARRIERS = (
    "dhl",
    "dpd",
    "gls",
    "ups",
    "fedex",
    "poste_italiane",
    "brt",
    "royal_mail",
    "postnl",
    "la_poste",
)
POSTS = {"IT": "poste_italiane", "FR": "la_poste", "GB": "royal_mail", "NL": "postnl"}
SATURDAY_CARRIERS = {"royal_mail", "postnl", "la_poste", "dhl"}
EXPRESS = {"ups", "fedex"}
CUTOFF = {"ups": time(18), "fedex": time(18)}

# origin -> [(destination, base business days)]
_LANES = {
    "IT": [("IT", 1), ("DE", 2), ("FR", 2), ("ES", 3), ("AT", 2), ("NL", 3), ("BE", 3),
           ("GB", 4), ("US", 5), ("CH", 3), ("PL", 3)],
    "DE": [("DE", 1), ("AT", 1), ("FR", 2), ("NL", 1), ("BE", 2), ("IT", 2), ("PL", 2),
           ("CH", 3), ("DK", 2), ("GB", 4), ("US", 5)],
    "FR": [("FR", 1), ("BE", 1), ("DE", 2), ("IT", 2), ("ES", 2), ("LU", 1), ("GB", 4)],
    "NL": [("NL", 1), ("BE", 1), ("DE", 1), ("FR", 2), ("GB", 4)],
    "GB": [("GB", 1), ("IE", 3), ("FR", 4), ("DE", 4), ("US", 5)],
    "ES": [("ES", 2)],
}  # fmt: skip
DOMESTIC_CARRIERS = {
    "IT": ["brt", "poste_italiane", "gls", "dhl"],
    "DE": ["dhl", "dpd", "gls", "ups"],
    "FR": ["la_poste", "dpd", "gls"],
    "NL": ["postnl", "dhl", "dpd"],
    "GB": ["royal_mail", "dpd", "ups"],
    "ES": ["gls", "ups", "dhl", "fedex"],
}
# Extra business days beyond the base: parcel networks and express are tighter than posts.
SPREAD = {"post": [0.45, 0.30, 0.15, 0.07, 0.03], "parcel": [0.58, 0.29, 0.09, 0.04]}
POSTCODES = {
    "IT": [
        "20",
        "00",
        "10",
        "40",
        "50",
        "80",
        "90",
        "70",
        "30",
        "35",
        "60",
        "09",
        "07",
        "16",
        "25",
        "37",
        "56",
        "65",
        "84",
        "98",
    ],
    "DE": [
        "10",
        "20",
        "30",
        "40",
        "50",
        "60",
        "70",
        "80",
        "90",
        "01",
        "04",
        "12",
        "22",
        "28",
        "33",
        "44",
        "53",
        "68",
        "76",
        "85",
    ],
    "FR": [
        "75",
        "13",
        "69",
        "31",
        "33",
        "59",
        "67",
        "06",
        "44",
        "35",
        "34",
        "38",
        "57",
        "76",
        "92",
        "93",
        "94",
        "20",
        "97",
        "98",
    ],
    "NL": [
        "10",
        "11",
        "20",
        "25",
        "30",
        "35",
        "40",
        "50",
        "56",
        "60",
        "62",
        "70",
        "80",
        "90",
        "97",
        "98",
        "99",
        "12",
        "13",
        "14",
    ],
    "GB": [
        "SW",
        "EC",
        "N",
        "NW",
        "SE",
        "W",
        "M",
        "B",
        "L",
        "LS",
        "G",
        "EH",
        "CF",
        "BT",
        "BS",
        "NE",
        "S",
        "KW",
        "HS",
        "ZE",
    ],
    "ES": [
        "28",
        "08",
        "46",
        "41",
        "29",
        "48",
        "50",
        "15",
        "33",
        "36",
        "03",
        "30",
        "35",
        "38",
        "07",
        "11",
        "18",
        "21",
        "51",
        "52",
    ],
}
# The last two areas of each list are remote (islands, highlands): a day more, mostly.
REMOTE_PREFIXES = {country: set(codes[-2:]) for country, codes in POSTCODES.items()}
_GENERIC_POSTCODES = [f"{n:02d}" for n in range(10, 99, 5)]


def lanes() -> list[tuple[str, str, int, str]]:
    """(origin, destination, base days, carrier) for every carrier on every lane."""
    found = []
    for origin, destinations in _LANES.items():
        for destination, base in destinations:
            if origin == destination:
                carriers = DOMESTIC_CARRIERS[origin]
            else:
                carriers = ["ups", "dhl", "dpd", "gls"] + (
                    [POSTS[origin]] if origin in POSTS else []
                )
                if base >= 4:
                    carriers.append("fedex")
            for carrier in carriers:
                found.append((origin, destination, base, carrier))
    return found


@dataclass(slots=True)
class Parcel:
    carrier: str
    origin: str
    destination: str
    postcode: str
    shipped_at: datetime
    delivered_at: datetime
    events: list[tuple[datetime, str, str, str]] = field(default_factory=list)
    # (occurred_at, status, substatus, code)


def _local(day: date, hour: float, country: str) -> datetime:
    minutes = int(hour * 60)
    naive = datetime.combine(day, time(minutes // 60, minutes % 60))
    return naive.replace(tzinfo=zone(country)).astimezone(UTC)


def _draw(rng: random.Random, weights: list[float]) -> int:
    x = rng.random()
    for i, w in enumerate(weights):
        x -= w
        if x < 0:
            return i
    return len(weights) - 1


def _season_days(rng: random.Random, start: date, destination: str) -> int:
    extra = 0
    if (start.month == 11 and start.day >= 20) or (start.month == 12 and start.day <= 23):
        r = rng.random()
        extra += 2 if r < 0.10 else 1 if r < 0.50 else 0
    if start.month == 8 and destination in ("IT", "FR", "ES") and rng.random() < 0.3:
        extra += 1
    if start.month == 1 and start.day <= 10 and rng.random() < 0.2:
        extra += 1
    return extra


def generate(count: int, *, first_day: date, last_day: date, seed: int = 8) -> Iterator[Parcel]:
    """``count`` delivered parcels shipped between ``first_day`` and ``last_day``, by ship time."""
    rng = random.Random(seed)
    table = lanes()
    weights = [(10.0 if o == d else 3.0 if b <= 2 else 1.0) for o, d, b, _c in table]
    span = (last_day - first_day).days + 1
    weekday_weight = [1.25, 1.0, 1.0, 1.0, 1.05, 0.25, 0.05]
    cum_weights = []
    total = 0.0
    for w in weights:
        total += w
        cum_weights.append(total)
    parcels_per_day = count / span
    made = 0
    for offset in range(span):
        day = first_day + timedelta(days=offset)
        want = parcels_per_day * weekday_weight[day.weekday()] / (sum(weekday_weight) / 7)
        n = int(want) + (rng.random() < want - int(want))
        if offset == span - 1:
            n = count - made
        n = min(n, count - made)
        batch = []
        for _ in range(n):
            i = rng.choices(range(len(table)), cum_weights=cum_weights)[0]
            batch.append(_parcel(rng, table[i], day))
        batch.sort(key=lambda p: p.shipped_at)
        made += len(batch)
        yield from batch
        if made >= count:
            return


def _parcel(rng: random.Random, lane: tuple[str, str, int, str], day: date) -> Parcel:
    origin, destination, base, carrier = lane
    codes = POSTCODES.get(destination, _GENERIC_POSTCODES)
    prefix = rng.choice(codes)
    postcode = prefix + "".join(rng.choice("0123456789") for _ in range(3))
    shipped_at = _local(day, rng.uniform(8.0, 21.99), origin)
    pickup_cal = calendar(origin, frozenset(range(5)))
    local = shipped_at.astimezone(zone(origin))
    start = local.date()
    if not pickup_cal.is_business_day(start):
        start = pickup_cal.on_or_after(start)
    elif local.time() >= CUTOFF.get(carrier, time(17)):
        start = pickup_cal.after(start)
    kind = "post" if carrier in POSTS.values() else "parcel"
    days = base + _draw(rng, SPREAD[kind])
    if carrier in EXPRESS and base >= 2:
        days -= 1
    if prefix in REMOTE_PREFIXES.get(destination, ()) and rng.random() < 0.7:
        days += 1
    if start.weekday() == 0 and rng.random() < 0.25:
        days += 1
    days += _season_days(rng, start, destination)
    workdays = frozenset(range(6) if carrier in SATURDAY_CARRIERS else range(5))
    cal = calendar(destination, workdays)
    arrival = cal.add(start, days)

    events: list[tuple[datetime, str, str, str]] = [
        (shipped_at, "info_received", "info_received.label_created", "LBL")
    ]
    if start == local.date():
        picked = shipped_at + timedelta(minutes=rng.randint(30, 180))
    else:
        picked = _local(start, rng.uniform(9.0, 16.0), origin)
    events.append((picked, "in_transit", "in_transit.picked_up", "PU"))
    events.append(
        (picked + timedelta(hours=rng.uniform(3, 9)), "in_transit", "in_transit.departed_facility", "DEP")
    )  # fmt: skip
    if origin != destination:
        before = max(0, min(days - 1, rng.choice((1, 1, 2))))
        cross = cal.add(start, days - before) if before else arrival
        cross_at = _local(cross, rng.uniform(0.5, 6.0), destination)
        events.append((max(cross_at, events[-1][0] + timedelta(hours=1)), "in_transit",
                       "in_transit.arrived_destination_country", "ARR"))  # fmt: skip
    r = rng.random()
    if r < 0.03:  # a failed attempt, delivered the next working day
        events.append((_local(arrival, rng.uniform(7.0, 8.5), destination), "out_for_delivery",
                       "out_for_delivery.out_for_delivery", "OFD"))  # fmt: skip
        events.append((_local(arrival, rng.uniform(11, 17), destination), "failed_attempt",
                       "failed_attempt.recipient_unavailable", "NA"))  # fmt: skip
        arrival = cal.after(arrival)
    if r > 0.95:  # a pickup point, collected some working days later
        events.append((_local(arrival, rng.uniform(9, 13), destination), "available_for_pickup",
                       "available_for_pickup.pickup_point", "PP"))  # fmt: skip
        collected = cal.add(arrival, _draw(rng, [0.3, 0.3, 0.2, 0.12, 0.08]))
        delivered_at = _local(collected, rng.uniform(14, 19.5), destination)
        substatus = "delivered.picked_up"
    else:
        events.append((_local(arrival, rng.uniform(7.0, 8.5), destination), "out_for_delivery",
                       "out_for_delivery.out_for_delivery", "OFD"))  # fmt: skip
        delivered_at = _local(arrival, rng.uniform(9.0, 19.0), destination)
        substatus = "delivered.delivered"
    events.append((delivered_at, "delivered", substatus, "DLV"))
    return Parcel(carrier, origin, destination, postcode, shipped_at, delivered_at, events)
