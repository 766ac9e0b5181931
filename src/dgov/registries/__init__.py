"""Base registries: registries declared as versioned JSON Schemas, records never overwritten (history,
as-of reads), search, bulk import/export, the GovStack-shaped data API, and the personal data access log.

Other domains import only from here.
"""

from dgov.registries.engine import Provenance, RecordView
from dgov.registries.service import RegistriesContext

__all__ = ["Provenance", "RecordView", "RegistriesContext"]
