"""A crmgate project directory: ``crmgate init``'s scaffold, its templates (config and example
rulebooks) and the offline sample enrichment provider.

May import the kernel, ``crmgate.trail`` and ``crmgate.adapters``.
"""
