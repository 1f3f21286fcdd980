"""Request body parsing for the API: DRF's JSON parser, safe against pathological nesting."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """``[[[[...]]]]`` thousands deep makes ``json.loads`` raise RecursionError, which DRF does
    not catch (a 500); it is a malformed body like any other (400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
