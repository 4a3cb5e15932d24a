"""One proposal's decision: the rulebook's verdict with enrichment and routing folded in,
the persisted routing pools, and routing replay under another rulebook.

May import the kernel, ``crmgate.trail`` and ``crmgate.rules``; never an adapter.
"""
