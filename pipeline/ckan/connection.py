"""The portal connection: the API token, and a CKAN action client that counts its writes,
retries only what is safe to repeat and never shows the token."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import ckanapi
import orjson
import requests
from ckanapi.common import reverse_apicontroller_action
from requests_toolbelt import MultipartEncoder
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from pipeline import __version__
from pipeline.errors import ConfigError, PortalError

DEFAULT_URL = "http://127.0.0.1:5000"  # the local portal of `make ckan-up`
DEFAULT_TOKEN_FILE = Path(".ckan/apitoken")
WRITE_VERBS = ("create", "update", "patch", "delete", "purge", "upsert")
# actions that give the same result when sent twice: safe to retry after a transient failure
REPEATABLE_WRITES = {"package_patch", "organization_patch", "resource_patch", "datastore_upsert", "datastore_delete"}
# HTTP answers worth another try: the server or a proxy in front of it failed, or a write conflicted
TRANSIENT_STATUSES = {409, 500, 502, 503, 504}
# ckanapi reports an answer it does not recognize as repr([url, status, body])
_ANSWER_STATUS = re.compile(r"""^\[(?:'[^']*'|"[^"]*"), (\d{3}),""")


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


def origin(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of a URL (default ports filled in): where a token may be sent."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme, 0)


def is_loopback(host: str) -> bool:
    """A host that names this machine: the token sent there in clear never crosses a network."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_http: bool = False) -> None:
    """Refuse a portal URL the token must not be sent to: not http(s), or plain http off this machine."""
    scheme, host, _ = origin(url)
    if scheme not in ("http", "https") or not host:
        raise ConfigError(f"the CKAN URL {url!r} is not an http:// or https:// address")
    if scheme == "http" and not is_loopback(host) and not allow_http:
        raise ConfigError(
            f"refusing to send the API token in clear text to {url} (plain http:// to a host that is not this "
            "machine); use https://, or, on a network you trust, pass --allow-http (or set CKAN_ALLOW_HTTP=1); "
            "nothing was sent"
        )


class Portal:
    """A CKAN action API client that counts its writes and retries only what is safe to repeat.

    The token goes only to the scheme, host and port of `url`: redirects are not followed
    with it, and every message the portal sends back is scrubbed of it."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 120,
        retry_seconds: float = 60,
        session: requests.Session | None = None,
        allow_http: bool = False,
    ) -> None:
        check_url(url, allow_http=allow_http)
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

    def scrub(self, text: str) -> str:
        """The text with the token (as is, or URL-encoded) replaced: for every message that may echo it."""
        for form in {self._token, quote(self._token, safe="")}:
            if form:
                text = text.replace(form, "[token]")
        return text

    def same_origin(self, url: str) -> bool:
        return origin(url) == origin(self.url)

    @staticmethod
    def is_write(action: str) -> bool:
        return any(verb in action for verb in WRITE_VERBS)

    def call(self, action: str, files: dict[str, Any] | None = None, **data: Any) -> Any:
        """Call one action; transient failures are retried with jittered exponential backoff
        when the action is safe to repeat, and reported clearly when it is not."""
        try:
            return self._call(action, files, data)
        except PortalError as exc:
            raise PortalError(self.scrub(str(exc))) from None
        except ckanapi.CKANAPIError as exc:  # NotFound, ValidationError, ...: handled by callers, scrubbed here
            exc.args = tuple(_scrubbed(a, self.scrub) for a in exc.args)
            if isinstance(getattr(exc, "error_dict", None), dict):
                exc.error_dict = _scrubbed(exc.error_dict, self.scrub)  # type: ignore[attr-defined]
            raise

    def _call(self, action: str, files: dict[str, Any] | None, data: dict[str, Any]) -> Any:
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
        # ckanapi posts without following redirects; _refuse_redirect says why the action failed
        kwargs = {"timeout": self.timeout, "hooks": {"response": self._refuse_redirect}}
        try:
            if files:
                return self._post_files(action, data, files, kwargs)
            if any(isinstance(v, orjson.Fragment) for v in data.values()):
                return self._post_json(action, data, kwargs)
            return self._ckan.call_action(action, data, files=files, requests_kwargs=kwargs)
        except ckanapi.NotAuthorized as exc:
            raise PortalError(
                f"the portal refused {action}: not authorized — check the API token "
                f"(CKAN_API_TOKEN / CKAN_API_TOKEN_FILE) and its rights on the organization ({self._short(exc)})"
            ) from None
        except (ckanapi.NotFound, ckanapi.ValidationError, ckanapi.SearchError):
            raise
        except ckanapi.CKANAPIError as exc:
            text = self._short(exc)
            if answer_status(exc) in TRANSIENT_STATUSES:
                raise TransientPortalError(text) from None
            raise PortalError(f"{action} failed at {self.url}: {text}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientPortalError(f"{type(exc).__name__}: cannot reach the portal") from None

    def _post_json(self, action: str, data: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        """An action whose payload holds JSON serialized already (orjson.Fragment: DataStore rows made
        in one vectorized pass), sent as UTF-8; answered and refused exactly as ckanapi's own calls."""
        url = f"{self.url}/api/action/{action}"
        headers = {
            "Content-Type": "application/json",
            "Authorization": self._token,
            "User-Agent": f"opendata-pipeline/{__version__}",
        }
        response = self._session.post(url, data=orjson.dumps(data), headers=headers, allow_redirects=False, **kwargs)
        return reverse_apicontroller_action(url, response.status_code, response.text)

    def _post_files(self, action: str, data: dict[str, Any], files: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        """An upload streamed from disk as it is sent (requests would build the whole multipart body in
        memory: twice a million-row file); fields as ckanapi sends them, answered as its calls are."""
        fields: dict[str, Any] = {k: str(v) for k, v in data.items() if v is not None}
        for name, part in files.items():  # a file object, or requests' (file name, file object[, type])
            if isinstance(part, tuple):
                fields[name] = (part[0], part[1], part[2] if len(part) > 2 else "application/octet-stream")
            else:
                fields[name] = (Path(getattr(part, "name", name)).name, part, "application/octet-stream")
        body = MultipartEncoder(fields=fields)
        url = f"{self.url}/api/action/{action}"
        headers = {
            "Content-Type": body.content_type,
            "Authorization": self._token,
            "User-Agent": f"opendata-pipeline/{__version__}",
        }
        response = self._session.post(url, data=body, headers=headers, allow_redirects=False, **kwargs)
        return reverse_apicontroller_action(url, response.status_code, response.text)

    def download_to(self, url: str, target: Path, hops: int = 3) -> bool:
        """A resource file from the portal streamed into `target` (never whole in memory); False
        if it fails. The token goes as with `download`."""
        if not url or origin(url)[0] not in ("http", "https"):
            return False
        headers = {"Authorization": self._token} if self.same_origin(url) else {}
        try:
            with self._session.get(
                url, headers=headers, timeout=self.timeout, allow_redirects=False, stream=True
            ) as response:
                if response.is_redirect and hops > 0:
                    return self.download_to(urljoin(url, response.headers.get("location", "")), target, hops - 1)
                if not response.ok or response.is_redirect:
                    return False
                with target.open("wb") as fh:
                    for block in response.iter_content(1 << 20):
                        fh.write(block)
        except requests.RequestException:
            return False
        return True

    def _refuse_redirect(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.is_redirect:
            target = urljoin(response.url, response.headers.get("location", ""))
            raise PortalError(
                f"the portal at {self.url} answered with a redirect to {self.scrub(target)}; the API token is sent "
                "only to CKAN_URL, so it was not followed: set CKAN_URL to the portal's own address"
            )

    def _short(self, exc: BaseException) -> str:
        return _short(self.scrub(str(exc)))  # scrub first: cutting could leave part of the token

    def download(self, url: str, hops: int = 3) -> bytes | None:
        """A resource file from the portal; None if it fails. The token goes with it (for private
        datasets) only when the file is on the portal's own scheme, host and port."""
        if not url or origin(url)[0] not in ("http", "https"):
            return None
        headers = {"Authorization": self._token} if self.same_origin(url) else {}
        try:
            response = self._session.get(url, headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException:
            return None
        if response.is_redirect and hops > 0:  # each hop decides again whether the token may go
            return self.download(urljoin(url, response.headers.get("location", "")), hops - 1)
        return response.content if response.ok and not response.is_redirect else None

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


def answer_status(exc: ckanapi.CKANAPIError) -> int | None:
    """The HTTP status of an answer ckanapi did not recognize, read from where ckanapi puts it (not
    searched for in the message: a body or a token may hold "409" or "500" anywhere)."""
    found = _ANSWER_STATUS.match(str(exc.args[0])) if exc.args else None
    return int(found.group(1)) if found else None


def _scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v, scrub) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrubbed(v, scrub) for v in value)
    return value


def _short(exc: object, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _validation_text(exc: ckanapi.ValidationError) -> str:
    errors = getattr(exc, "error_dict", None) or {}
    parts = [f"{k}: {v}" for k, v in errors.items() if k != "__type"]
    return "; ".join(parts) or _short(exc)
