"""Conflict-aware rollback: which changes to undo (selection), what to write per record (plan,
pure), and running it (run).

May import the kernel, ``crmgate.trail``, ``crmgate.approvals``, ``crmgate.adapters`` and ``crmgate.rules``.
"""
