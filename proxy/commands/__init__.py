"""The core subcommands of ``lava-sidecar`` (serve, check-config, token)."""
