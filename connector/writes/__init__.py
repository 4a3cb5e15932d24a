"""The write path: proposals parsed, before-images read, intents recorded, batched conditional
writes made, results recorded, outcomes returned; and the dry-run check of the same decision.

May import the kernel (clock, errors, config, tables), ``crmgate.trail``, ``crmgate.decide``,
``crmgate.adapters`` and ``crmgate.rules``.
"""
