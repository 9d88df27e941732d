"""Plugin entry point: Solr-less search, Thai tags and the GD Catalog validators."""

from __future__ import annotations

import logging
from typing import Any

import ckan
import ckan.plugins as p

from ckanext_opendata_local import search, validators

log = logging.getLogger(__name__)
CHECKED_ON_CKAN = "2.12.0"


class OpendataLocalPlugin(p.SingletonPlugin):
    p.implements(p.IConfigurable)
    p.implements(p.IValidators)

    def configure(self, config: Any) -> None:
        if ckan.__version__ != CHECKED_ON_CKAN:
            raise RuntimeError(
                f"ckanext-opendata-local replaces private parts of ckan.lib.search and was checked on "
                f"CKAN {CHECKED_ON_CKAN} only; this is CKAN {ckan.__version__}"
            )
        search.install()
        log.info("opendata_local: package search reads PostgreSQL (no Solr); GD Catalog validators")

    def get_validators(self) -> dict[str, Any]:
        # same names as CKAN's own and thai_gdc's: the validator cache lets plugins replace them
        return {
            "tag_name_validator": validators.tag_name_validator,
            "tag_string_convert": validators.tag_string_convert,
            "package_name_validator": validators.package_name_validator,
            "package_title_validator": validators.package_title_validator,
        }
