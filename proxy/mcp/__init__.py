"""``lava-sidecar mcp``: an MCP server that lets agents (Claude Code, Codex, Cursor…) set up Lava
billing and send billable traffic through the sidecar's own request path.

``tools`` holds the tool logic (plain async methods over HTTP to the sidecar and ``proxy.billing``,
no MCP types); ``server`` is the transport shell on the official MCP SDK (stdio and streamable
HTTP); ``config`` is the ``mcp:`` config section; ``command`` is the CLI entry. Nothing here imports
the SDK until the command runs (it is the optional extra ``lava-sidecar[mcp]``).
"""
