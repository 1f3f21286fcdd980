"""Rendering of the shopper pages: Jinja2 templates under ``templates/tracking_pages/*.jinja``.

Jinja2 (already wismo's email template engine) compiles templates to Python functions, several
times faster than Django's engine, which matters on the uncached path of a page that must cost
little more than a bare request. Autoescaping is on for every template: whatever a merchant, a
carrier or a shopper wrote is printed as text. Templates are trusted files of this repository;
merchants never supply one.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.templatetags.static import static
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

TEMPLATE_DIR = settings.BASE_DIR / "templates" / "tracking_pages"


class Row(dict):
    """A dict whose keys templates read as attributes (``p.status``) without the failed attribute
    lookup Jinja2 tries first on a plain dict: a page prints hundreds of values."""

    __slots__ = ()

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=settings.DEBUG,
        cache_size=64,
    )


@cache
def static_urls() -> dict[str, str]:
    """The pages' own static files (hashed names in production), looked up once per process."""
    return {
        "css": static("tracking_pages/page.css"),
        "js": static("tracking_pages/page.js"),
    }


_templates: dict[str, Template] = {}


def _template(name: str) -> Template:
    # Jinja's own template cache takes a lock and reorders an LRU on every lookup; templates
    # never change in a process that does not reload them (DEBUG off), so each is kept here.
    template = _templates.get(name)
    if template is None:
        env = environment()
        template = env.get_template(name)
        if not env.auto_reload:
            _templates[name] = template
    return template


def render(name: str, context: dict) -> str:
    return _template(name).render(context)


def macro(template: str, name: str):
    """A macro of ``template`` as a Python callable returning Markup (Jinja's ``module``)."""
    return getattr(_template(template).module, name)
