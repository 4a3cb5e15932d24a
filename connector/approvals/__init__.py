"""The approval queue: changes held for a person, who may decide them, and the decision itself
(re-checked against the record now, optionally edited, then written).

May import the kernel, ``crmgate.trail``, ``crmgate.writes``, ``crmgate.adapters`` and ``crmgate.rules``.
"""
