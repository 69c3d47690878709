"""The soak: tens of thousands of mixed requests with faults injected at a steady rate, then a
reconciliation of the usage log, /usage and /metrics against what the gateway served."""
