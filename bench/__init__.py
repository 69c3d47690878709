"""The benchmark: lava-sidecar beside no proxy, nginx and LiteLLM, against one fake upstream.

Entry point: ``python -m bench.run`` (``make bench``, ``make bench-smoke``); see docs/performance.md.
"""
