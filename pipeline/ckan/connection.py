"""The portal connection: the API token, and a CKAN action client that counts its writes,
retries only what is safe to repeat and never shows the token."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ckanapi
import requests
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from pipeline import __version__
from pipeline.errors import ConfigError, PortalError

DEFAULT_URL = "http://127.0.0.1:5000"  # the local portal of `make ckan-up`
DEFAULT_TOKEN_FILE = Path(".ckan/apitoken")
WRITE_VERBS = ("create", "update", "patch", "delete", "purge", "upsert")
# actions that give the same result when sent twice: safe to retry after a transient failure
REPEATABLE_WRITES = {"package_patch", "organization_patch", "resource_patch", "datastore_upsert", "datastore_delete"}


class TransientPortalError(Exception):
    """The portal answered 5xx/409 or the connection failed: worth another try."""


def read_token(environ: dict[str, str] | None = None, default_file: Path = DEFAULT_TOKEN_FILE) -> str:
    """The API token from CKAN_API_TOKEN, else from the file CKAN_API_TOKEN_FILE (default .ckan/apitoken)."""
    env = os.environ if environ is None else environ
    token = env.get("CKAN_API_TOKEN", "").strip()
    if token:
        return token
    path = Path(env.get("CKAN_API_TOKEN_FILE") or default_file)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"no CKAN API token: set CKAN_API_TOKEN or CKAN_API_TOKEN_FILE (cannot read {path}: {exc.strerror})"
        ) from exc
    if not token:
        raise ConfigError(f"no CKAN API token: {path} is empty")
    return token


class Portal:
    """A CKAN action API client that counts its writes and retries only what is safe to repeat."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 120,
        retry_seconds: float = 60,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._session = session or requests.Session()
        self._ckan = ckanapi.RemoteCKAN(
            self.url, apikey=token, user_agent=f"opendata-pipeline/{__version__}", session=self._session
        )
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.writes: list[str] = []
        self.reads = 0

    def __repr__(self) -> str:  # never show the token
        return f"Portal({self.url!r})"

    @staticmethod
    def is_write(action: str) -> bool:
        return any(verb in action for verb in WRITE_VERBS)

    def call(self, action: str, files: dict[str, Any] | None = None, **data: Any) -> Any:
        """Call one action; transient failures are retried with jittered exponential backoff
        when the action is safe to repeat, and reported clearly when it is not."""
        write = self.is_write(action)
        repeatable = not write or (action in REPEATABLE_WRITES and not files)
        attempts = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, TransientPortalError) and repeatable),
            wait=wait_random_exponential(multiplier=0.5, max=10),
            stop=stop_after_delay(self.retry_seconds),
            reraise=True,
        )
        try:
            for attempt in attempts:
                with attempt:
                    result = self._send(action, data, files)
        except TransientPortalError as exc:
            hint = "" if repeatable else " (not retried: repeating it could duplicate data; run the push again)"
            raise PortalError(f"{action} failed at {self.url}: {exc}{hint}") from None
        if write:
            self.writes.append(action)
        else:
            self.reads += 1
        return result

    def _send(self, action: str, data: dict[str, Any], files: dict[str, Any] | None) -> Any:
        try:
            return self._ckan.call_action(action, data, files=files, requests_kwargs={"timeout": self.timeout})
        except ckanapi.NotAuthorized as exc:
            raise PortalError(
                f"the portal refused {action}: not authorized — check the API token "
                f"(CKAN_API_TOKEN / CKAN_API_TOKEN_FILE) and its rights on the organization ({_short(exc)})"
            ) from None
        except (ckanapi.NotFound, ckanapi.ValidationError, ckanapi.SearchError):
            raise
        except ckanapi.CKANAPIError as exc:
            text = str(exc)
            if any(code in text for code in ("500", "502", "503", "504", "409")):
                raise TransientPortalError(_short(exc)) from None
            raise PortalError(f"{action} failed at {self.url}: {_short(exc)}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientPortalError(f"{type(exc).__name__}: cannot reach the portal") from None

    def download(self, url: str) -> bytes | None:
        """A resource file from the portal (with the token, for private datasets); None if it fails."""
        if not url:
            return None
        try:
            response = self._session.get(url, headers={"Authorization": self._token}, timeout=self.timeout)
        except requests.RequestException:
            return None
        return response.content if response.ok else None

    def show(self, action: str, **data: Any) -> dict[str, Any] | None:
        """A *_show call that answers None for "not found"."""
        try:
            return self.call(action, **data)
        except ckanapi.NotFound:
            return None

    def check_reachable(self) -> None:
        """Fail fast (a few seconds of retries, not the full budget) when nothing answers."""
        budget, self.retry_seconds = self.retry_seconds, min(self.retry_seconds, 8)
        try:
            self.call("status_show")
        except PortalError as exc:
            raise PortalError(f"the CKAN portal at {self.url} is not reachable; nothing was changed ({exc})") from None
        finally:
            self.retry_seconds = budget


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _validation_text(exc: ckanapi.ValidationError) -> str:
    errors = getattr(exc, "error_dict", None) or {}
    parts = [f"{k}: {v}" for k, v in errors.items() if k != "__type"]
    return "; ".join(parts) or _short(exc)
