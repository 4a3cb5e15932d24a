"""The MCP server on the official ``mcp`` SDK (stdio and streamable HTTP), and the tool schemas
and texts it generates per actor from the rulebook.

Part of the doors: imports the service, credentials and boundaries, never the other way round.
"""
