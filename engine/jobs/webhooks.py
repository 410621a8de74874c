"""Webhooks: where a job may POST its final status, and the delivery itself.

A webhook URL comes from an API client, so it must not turn the server into a proxy into its
own network (server-side request forgery). By default a URL is refused unless every address
its host resolves to is a public (globally routable) address other than the server's own:
loopback (127.0.0.0/8, ::1), private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local
(169.254/16 with the cloud metadata address, fe80::/10), shared, reserved, multicast and
unspecified addresses are refused, as are the addresses of the server's own interfaces. The
setting ``webhook_allow`` names hosts (``hooks.internal``) or networks (``10.1.0.0/16``,
``127.0.0.1``) that are allowed anyway. The check runs when the job is submitted and again
before each delivery attempt (a host name may resolve elsewhere later); redirects are not
followed.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable
from urllib.parse import urlsplit

import httpx

WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_TRIES = 3
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(ValueError):
    """The URL may not be called; the message says why (host, address and rule)."""


@lru_cache(maxsize=1)
def own_addresses() -> frozenset[Address]:
    """The addresses of this machine's network interfaces (and of its host name)."""
    import psutil

    out: set[Address] = set()
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    out.add(ipaddress.ip_address(a.address.split("%")[0]))
                except ValueError:
                    pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            out.add(ipaddress.ip_address(info[4][0].split("%")[0]))
    except OSError:
        pass
    return frozenset(out)


def _kind(ip: Address) -> str | None:
    """Why an address is not for webhooks, or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _kind(ip.ipv4_mapped)
    for test, what in ((ip.is_loopback, "a loopback address"), (ip.is_link_local, "a link-local address"),
                       (ip.is_unspecified, "the unspecified address"), (ip.is_multicast, "a multicast address"),
                       (ip.is_private, "a private network address"), (ip.is_reserved, "a reserved address")):
        if test:
            return what
    if not ip.is_global:
        return "not a public address"
    if ip in own_addresses():
        return "an address of this server"
    return None


@dataclass(frozen=True)
class WebhookPolicy:
    """Which webhook URLs are allowed: public addresses, plus the hosts and networks in ``allow``."""

    allow: tuple[str, ...] = ()
    resolve: Callable[[str, int], list[str]] = field(default=None, repr=False)  # type: ignore[assignment]

    def _networks(self) -> tuple[list[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
        hosts, nets = [], []
        for item in self.allow:
            try:
                nets.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                hosts.append(item.strip().lower().rstrip("."))
        return hosts, nets

    def check(self, url: str) -> None:
        """Raise WebhookRefused unless ``url`` may be called (see the module docstring)."""
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https"):
            raise WebhookRefused(f"webhook_url: only http and https URLs are called (got {parts.scheme or 'no'} scheme)")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise WebhookRefused("webhook_url: the URL has no host")
        if parts.username or parts.password:
            raise WebhookRefused("webhook_url: credentials in the URL are not accepted")
        hosts, nets = self._networks()
        if host in hosts:
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise WebhookRefused(f"webhook_url: the port of {url!r} is not a number from 1 to 65535") from None
        try:
            addresses = (self.resolve or _resolve)(host, port)
        except OSError as exc:
            raise WebhookRefused(f"webhook_url: host {host!r} does not resolve ({exc.strerror or exc})") from None
        if not addresses:
            raise WebhookRefused(f"webhook_url: host {host!r} does not resolve")
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%")[0])
            if any(ip in n for n in nets):
                continue
            why = _kind(ip)
            if why:
                shown = host if host == str(ip) else f"{host} ({ip})"
                raise WebhookRefused(f"webhook_url: {shown} is {why}; webhooks go to public addresses only "
                                     "(the setting webhook_allow names hosts or networks to allow)")


def _resolve(host: str, port: int) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})


def deliver(url: str, payload: dict, policy: WebhookPolicy, record: Callable[[dict], None],
            tries: int = WEBHOOK_TRIES, timeout: float = WEBHOOK_TIMEOUT_S, backoff: float = 0.5) -> bool:
    """POST ``payload`` to ``url``: up to ``tries`` attempts (a 5xx answer or a network error is
    retried with exponential backoff), each checked against ``policy`` first; every attempt is
    passed to ``record`` ({"attempt", "at", "status_code" or "error", "ok"}). True when delivered."""
    for attempt in range(1, tries + 1):
        entry: dict = {"attempt": attempt, "at": round(time.time(), 3)}
        try:
            policy.check(url)
            r = httpx.post(url, json=payload, timeout=timeout, follow_redirects=False)
            entry.update(status_code=r.status_code, ok=r.is_success)
        except WebhookRefused as exc:
            entry.update(error=str(exc), ok=False)
            record(entry)
            return False
        except httpx.HTTPError as exc:
            entry.update(error=f"{exc.__class__.__name__}: {exc}"[:300], ok=False)
        record(entry)
        if entry["ok"]:
            return True
        if entry.get("status_code") is not None and entry["status_code"] < 500:
            return False  # the receiver answered and refused: retrying will not help
        if attempt < tries:
            time.sleep(backoff * 2 ** (attempt - 1))
    return False
