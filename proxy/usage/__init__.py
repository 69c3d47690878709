"""Usage extraction: one extractor per API family behind one small interface (see ``base``)."""

from __future__ import annotations

from .base import MISSING, Api, Extractor, Family, RequestFacts, Source, Usage
from .estimate import estimate
from .request import inspect
from .select import NullExtractor, is_event_stream, make_extractor
from .strip import UsageChunkStripper

__all__ = [
    "MISSING", "Api", "Extractor", "Family", "NullExtractor", "RequestFacts", "Source", "Usage",
    "UsageChunkStripper", "estimate", "inspect", "is_event_stream", "make_extractor",
]
