"""wismo: answers "where is my order?" before the shopper has to ask."""

from wismo.celery import app as celery_app

__all__ = ["celery_app"]
