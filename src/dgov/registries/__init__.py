"""Base registries: registries declared as versioned JSON Schemas, records never overwritten (history,
as-of reads), search, bulk import/export, the GovStack-shaped data API, and the personal data access log.

Other domains import only from here.
"""

from dgov.identity import set_verifier_factory
from dgov.registries.engine import Provenance, RecordView
from dgov.registries.service import RegistriesContext
from dgov.registries.verifier import PopulationVerifier

# With this domain on the node, creating a citizen account checks the person in the population registry.
set_verifier_factory(PopulationVerifier)

__all__ = ["PopulationVerifier", "Provenance", "RecordView", "RegistriesContext"]
