"""The doors people and programs come through: the CLI, the HTTP API, the MCP server, and what
they share (credentials, request quotas, the access-checked service, wiring from config).

The top layer: may import anything in crmgate; nothing in crmgate imports it.
"""
