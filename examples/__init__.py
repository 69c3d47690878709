"""Examples that use lava-sidecar the way an application would (run from the repository root)."""
