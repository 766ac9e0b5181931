"""Base registries: registries declared as versioned JSON Schemas, records never overwritten (history,
as-of reads), search, bulk import/export, the GovStack-shaped data API, and the personal data access log.

Other domains import only from here.
"""

from dgov.identity import set_verifier_factory
from dgov.registries.admin_units import commune_name, province_name
from dgov.registries.definitions import catalogue as registry_catalogue
from dgov.registries.engine import Provenance, RecordView
from dgov.registries.events import TOPIC as RECORD_CHANGED
from dgov.registries.events import WITH_DATA as RECORD_CHANGED_WITH_DATA
from dgov.registries.id_issuance import issue_id_number, register_newborn
from dgov.registries.service import RegistriesContext, RightsSource, set_rights_source
from dgov.registries.service import access_log as personal_data_usage
from dgov.registries.service import create as create_record
from dgov.registries.service import exists as record_exists
from dgov.registries.service import get as read_record
from dgov.registries.service import history as record_history
from dgov.registries.service import search as search_records
from dgov.registries.service import update as update_record
from dgov.registries.verifier import PopulationVerifier

# With this domain on the node, creating a citizen account checks the person in the population registry.
set_verifier_factory(PopulationVerifier)

__all__ = [
    "RECORD_CHANGED",
    "RECORD_CHANGED_WITH_DATA",
    "PopulationVerifier",
    "Provenance",
    "RecordView",
    "RegistriesContext",
    "RightsSource",
    "commune_name",
    "create_record",
    "issue_id_number",
    "personal_data_usage",
    "province_name",
    "read_record",
    "record_exists",
    "record_history",
    "register_newborn",
    "registry_catalogue",
    "search_records",
    "set_rights_source",
    "update_record",
]
