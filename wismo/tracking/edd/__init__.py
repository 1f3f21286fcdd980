"""Expected delivery dates, learned from delivered parcels. Pure: no database in this package.

- ``calendar``: business days per country (public holidays from the ``holidays`` library) and
  carrier (the weekdays it delivers on, its daily cut-off);
- ``model``: fitting transit-time distributions in business days per carrier, service, origin,
  destination and postcode prefix, from the stage a parcel reached; the platform prior built from
  tenants' models, never from their rows;
- ``predict``: a most likely day, a range and a confidence for a parcel, given where it is now;
- ``backtest``: scoring predictions against real deliveries, in time order.

``wismo.tracking.services.edd`` feeds it from the database and writes its answers on shipments.
"""

from wismo.tracking.edd.model import Journey, Lane, Model, Prior, build_prior, fit
from wismo.tracking.edd.predict import Prediction, Predictor, confidence_label, stage_marks

__all__ = [
    "Journey",
    "Lane",
    "Model",
    "Prediction",
    "Predictor",
    "Prior",
    "build_prior",
    "confidence_label",
    "fit",
    "stage_marks",
]
