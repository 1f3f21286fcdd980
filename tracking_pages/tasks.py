"""Celery tasks of the tracking pages: thin wrappers, idempotent, platform-wide."""

from __future__ import annotations

from celery import shared_task

from tracking_pages import pageviews


@shared_task(name="tracking_pages.tasks.flush_page_views", ignore_result=True)
def flush_page_views() -> int:
    """Beat (every minute): add the cache's closed page-view buckets to ``PageViewCount``."""
    return pageviews.page_views_flush()
