"""The console: a web page for approvers, admins and auditors (Jinja2 + htmx, assets in the package),
its signed session and CSRF tokens, and the webhooks that tell people a change waits or was resolved.
It may import anything of crmgate; pages call only :class:`crmgate.doors.service.Service`.
"""
