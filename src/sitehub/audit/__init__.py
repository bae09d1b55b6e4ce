"""`sitehub audit`: what a site exposes and to whom, from its inventory (and its live hosts)."""

from __future__ import annotations

from sitehub.audit.model import Report
from sitehub.audit.source import AuditInputError, audit_inventory

__all__ = ["AuditInputError", "Report", "audit_inventory"]
