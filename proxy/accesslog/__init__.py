"""The access log: one line per request the pipeline served or refused, built from its
``RequestRecord`` at the completion seam (so it agrees with the usage log and the metrics).

On with ``logging.access_log: true``, in ``logging.format``: ``text`` puts the fields after the
request line as ``key=value``; ``json`` makes each one a key of the line's object. Never the secret
key or a forward token (neither is on a record); the query string is left out (it may carry what a
log must not) and every free-text field is scrubbed and bounded.
"""

from .line import AccessLog, access_fields

__all__ = ["AccessLog", "access_fields"]
