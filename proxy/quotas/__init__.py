"""Per-customer quotas: requests, tokens, concurrency and spend, checked before a request leaves.

``config`` reads the ``quotas:`` section; ``gate.QuotaGate`` is what the pipeline calls (admit
before sending, complete with the record's usage); ``policy`` and ``window`` are the pure core;
``memory`` and ``redisstore`` (+ ``scripts``) the two stores. See docs/quotas.md.
Nothing here imports ``redis`` unless the Redis backend is configured.
"""

from .config import QuotaLimits, QuotaSettings, RedisQuota, read_quotas

__all__ = ["QuotaLimits", "QuotaSettings", "RedisQuota", "read_quotas"]
