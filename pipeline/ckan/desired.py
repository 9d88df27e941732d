"""The desired state: what the portal should hold for one published dataset, read from its
folder and descriptor, and fitted to the portal's dataset schema."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pipeline.dataset import load_dataset
from pipeline.errors import ConfigError
from pipeline.publish import sha256_file

OTHER_CHOICE = "อื่นๆ"
CORE_PACKAGE_KEYS = {"name", "title", "notes", "owner_org", "license_id", "tags"}


@dataclass
class FileResource:
    name: str  # resource name on the portal: the resource's Thai title (else the file's name)
    path: Path
    format: str
    description: str
    sha256: str
    table: bool = False  # the main table: also loaded into the DataStore


@dataclass
class Desired:
    """What the portal should hold for one published dataset."""

    organization: dict[str, Any]
    package: dict[str, Any]
    resources: list[FileResource]
    schema: dict[str, Any]
    reference_dir: Path
    may_contain: dict[str, list[str]] = field(default_factory=dict)  # metadata keys allowed to hold personal data
    licenses: list[dict[str, Any]] = field(default_factory=list)  # the descriptor's, for `licence`


def desired_state(published: Path, schemas_dir: Path) -> Desired:
    """The portal's target state from a published folder and the dataset's descriptor."""
    try:
        package = json.loads((published / "datapackage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{published}: no readable datapackage.json ({exc}); run `make` first") from exc
    if package.get("name") != published.name:
        raise ConfigError(
            f"{published}: datapackage.json names the dataset {package.get('name')!r}, not its folder's name; "
            "nothing was changed"
        )
    problems = [p for res in package.get("resources", []) if (p := _outside(published, res.get("path")))]
    if problems:
        raise ConfigError(
            f"{published.name}: resource paths in datapackage.json must name files inside the dataset's folder; "
            "nothing was changed:\n  " + "\n  ".join(problems)
        )
    spec = load_dataset(schemas_dir, package["name"])
    portal = spec.descriptor.get("x_portal", {})
    if "organization" not in portal:
        raise ConfigError(f"{spec.name}: the descriptor has no x_portal.organization to publish under")
    org = dict(portal["organization"])
    licenses = package.get("licenses") or [{}]
    meta: dict[str, Any] = {
        "name": package["name"],
        "title": package.get("title", package["name"]),
        "notes": package.get("description", ""),
        "owner_org": org["name"],
        "license_id": portal.get("license_id") or licenses[0].get("name", ""),
        "version": package.get("version", ""),
        "tags": sorted(package.get("keywords", [])),
    }
    meta.update(portal.get("gdcatalog", {}))
    resources = []
    schema: dict[str, Any] = {}
    for res in package.get("resources", []):
        path = published / res["path"]
        digest = (res.get("hash") or "").removeprefix("sha256:") or sha256_file(path)
        is_table = isinstance(res.get("schema"), dict) and res.get("format", "").lower() == "csv"
        if is_table and not schema:
            schema = res["schema"]
        resources.append(
            FileResource(
                name=res.get("title") or Path(res["path"]).name,
                path=path,
                format=(res.get("format") or path.suffix.lstrip(".")).upper(),
                description=res.get("description") or "",
                sha256=digest,
                table=is_table and schema is res["schema"],
            )
        )
    return Desired(
        org, meta, resources, schema, spec.reference.directory, dict(portal.get("may_contain", {})), licenses
    )


def _outside(folder: Path, path: Any) -> str:
    """Why a resource path may not be uploaded ("" when it names a file inside `folder`):
    absolute, `..`, or a link resolving outside would upload any file the user can read."""
    if not isinstance(path, str) or not path.strip():
        return f"{path!r}: not a file name"
    if (
        "\\" in path
        or PurePosixPath(path).is_absolute()
        or PureWindowsPath(path).is_absolute()
        or ".." in Path(path).parts
    ):
        return f"{path!r}: absolute or `..` path"
    try:
        target = (folder / path).resolve(strict=True)
    except (OSError, RuntimeError):
        return f"{path!r}: no such file in {folder.name}"
    if not target.is_relative_to(folder.resolve()):
        return f"{path!r}: a link to a file outside {folder.name}"
    if not target.is_file():
        return f"{path!r}: not a file"
    return ""


def fit_to_portal_schema(desired: Desired, portal_schema: dict[str, Any] | None) -> list[str]:
    """Map metadata onto the portal's scheming schema; return every mismatch at once.

    A value off a field's choice list goes as อื่นๆ with the text in `<field>_other`
    (the GD Catalog convention) when the schema has that field; otherwise it is a mismatch.
    """
    if not portal_schema:
        return []
    problems = []
    fields = {f["field_name"]: f for f in portal_schema.get("dataset_fields", [])}
    meta = desired.package
    # a key the portal's schema does not know would be dropped by the portal and then
    # differ on every comparison: send only what the portal keeps
    for key in [k for k in meta if k not in fields and k not in CORE_PACKAGE_KEYS]:
        del meta[key]
    for name, spec in fields.items():
        choices = [str(c.get("value")) for c in spec.get("choices", []) or []]
        value = meta.get(name)
        if "scheming_multiple_choice" in str(spec.get("validators", "")) and isinstance(value, str):
            value = meta[name] = [value]  # the portal keeps multiple-choice fields as lists
        if choices and value not in (None, "", []):
            values = value if isinstance(value, list) else [value]
            off = [v for v in values if str(v) not in choices]
            if off:
                if OTHER_CHOICE in choices and f"{name}_other" in fields:
                    kept = [v for v in values if str(v) in choices]
                    new = [*kept, OTHER_CHOICE] if isinstance(value, list) else OTHER_CHOICE
                    meta[name] = new
                    meta[f"{name}_other"] = ", ".join(str(v) for v in off)
                else:
                    problems.append(f"{name}: {off!r} is not one of the portal's choices {choices}")
        if spec.get("required") and name not in ("name", "id") and meta.get(name) in (None, "", []):
            if name in ("tag_string",) and meta.get("tags"):
                continue
            problems.append(f"{name}: required by the portal's dataset schema but not set in the descriptor")
    return problems
