"""What auditors and admins read from the trail: exports with their chain proof and signed
manifest, offline verification, the governance report, outcome feedback and change status.

May import the kernel and ``crmgate.trail`` only: an export verifies without a CRM or a rulebook.
"""
