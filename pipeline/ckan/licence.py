"""Licence: the descriptor's licence mapped onto one of the licences the portal offers.

GD Catalog portals (ckanext-thai_gdc) list licences by title ("Creative Commons Attributions",
…, "อื่นๆ" with the text in `license_id_other`); stock CKAN lists ids ("cc-by"). Which ids a
licence may go by is data (schemas/reference/portal-licences.yaml); which of them the portal
offers is read from the portal (its scheming `license_id` choices, else its license_list).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError

OTHER_CHOICE = "อื่นๆ"
LICENCES_FILE = "portal-licences.yaml"


@dataclass
class Licence:
    names: list[str]
    title: str
    open: bool
    portal_ids: list[str]


@dataclass
class LicenceFit:
    license_id: str
    other: str | None  # the text for license_id_other when license_id is อื่นๆ
    open: bool | None  # an open licence by the Open Definition, when the table knows it
    portal_open: bool | None  # what the portal's licence register says of license_id
    note: str
    problem: str | None = None


def load_licences(reference_dir: Path) -> list[Licence]:
    """The licence table of schemas/reference."""
    path = Path(reference_dir) / LICENCES_FILE
    try:
        rows = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [Licence([str(n) for n in r["names"]], r["title"], bool(r["open"]), list(r["portal_ids"])) for r in rows]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the licence table {path}: {exc}") from exc


def _lookup(table: list[Licence], name: str) -> Licence | None:
    wanted = name.strip().casefold()
    return next((lic for lic in table if wanted in {n.casefold() for n in lic.names}), None)


def offered_licences(portal_schema: dict[str, Any] | None, licence_register: list[dict[str, Any]]) -> list[str]:
    """The licence ids the portal accepts: its schema's choices when it has some, else its register."""
    for f in (portal_schema or {}).get("dataset_fields", []):
        if f.get("field_name") == "license_id" and f.get("choices"):
            return [str(c.get("value")) for c in f["choices"]]
    return [str(lic.get("id")) for lic in licence_register]


def fit_licence(
    requested: str,
    descriptor_licences: list[dict[str, Any]],
    table: list[Licence],
    portal_schema: dict[str, Any] | None,
    licence_register: list[dict[str, Any]],
) -> LicenceFit:
    """The portal licence for `requested` (x_portal.license_id or the first descriptor licence)."""
    offered = offered_licences(portal_schema, licence_register)
    register = {str(lic.get("id")): lic for lic in licence_register}
    names = [requested] + [str(d.get("name", "")) for d in descriptor_licences if d.get("name")]
    entry = next((e for e in (_lookup(table, n) for n in names if n) if e), None)
    fields = {f.get("field_name") for f in (portal_schema or {}).get("dataset_fields", [])}

    def portal_open(license_id: str) -> bool | None:
        lic = register.get(license_id)
        if lic is None:
            return None
        return "approved" in (lic.get("od_conformance"), lic.get("osd_conformance")) or bool(
            lic.get("is_okd_compliant")
        )

    is_open = entry.open if entry else None
    if not offered or requested in offered:
        chosen = requested
    else:
        chosen = next((i for i in (entry.portal_ids if entry else []) if i in offered), "")
    if chosen:
        note = chosen if chosen == requested else f"{requested} → {chosen}"
        return LicenceFit(chosen, None, is_open, portal_open(chosen), note)
    title = entry.title if entry else (descriptor_licences[0].get("title") if descriptor_licences else "") or requested
    other = f"{title} ({requested})" if title != requested else requested
    if OTHER_CHOICE in offered and "license_id_other" in fields:
        return LicenceFit(
            OTHER_CHOICE, other, is_open, portal_open(OTHER_CHOICE), f"{requested} → {OTHER_CHOICE}: {other}"
        )
    return LicenceFit(
        requested,
        None,
        is_open,
        None,
        requested,
        f"license_id: {requested!r} is none of the portal's licences {offered} and the portal has no "
        f"{OTHER_CHOICE!r} choice with license_id_other",
    )
