"""QA_DATABASE_URL: checked when the configuration is read, and never shown with its password.

`postgresql://USER:PASSWORD@HOST:PORT/DATABASE?OPTION=VALUE` (or `postgres://`), as libpq reads it:
several `HOST:PORT` separated by commas, an IPv6 host in brackets, a Unix socket folder as
`?host=/var/run/postgresql`. A mistake is reported when the server starts, naming the variable,
instead of as a connection failure at the first 👍/👎; a password is replaced by `***` wherever the
URL or a message about it is shown (repr, logs, error messages).

Only the standard library here: config.py imports this module, and the driver (psycopg) is loaded
only when a URL is set.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

SCHEMES = ("postgresql", "postgres")
HIDDEN = "***"
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_QUERY_PASSWORD = re.compile(r"(?i)((?:^|&)password=)([^&]*)")


def _split(url: str) -> tuple[str, str, str, str]:
    """(scheme, user info, host list, path and query) by plain string splitting, so that even a
    malformed URL can be shown without its password. The user info is taken to end at the *last*
    `@`, so that a password holding an unencoded `@`, `/` or `?` is still all in it."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "", "", "", url
    userinfo, at, after = rest.rpartition("@")
    if not at:
        userinfo, after = "", rest
    cut = min((i for i in (after.find("/"), after.find("?")) if i >= 0), default=len(after))
    return scheme, userinfo, after[:cut], after[cut:]


def passwords(url: str) -> list[str]:
    """The password(s) written in `url`, raw and percent-decoded: what must never be shown."""
    _, userinfo, _, tail = _split(url)
    found = []
    if ":" in userinfo:
        found.append(userinfo.split(":", 1)[1])
    if "?" in tail:
        query = tail.split("?", 1)[1]
        found += [value for key, value in parse_qsl(query, keep_blank_values=True) if key.lower() == "password"]
        found += [m.group(2) for m in _QUERY_PASSWORD.finditer(query)]
    found += [unquote(p) for p in found]
    return sorted({p for p in found if p}, key=len, reverse=True)  # longest first: no partial leftovers


def hide_passwords(text: str, url: str) -> str:
    """`text` (say, a driver's error message) with every password of `url` replaced by `***`."""
    for secret in passwords(url):
        text = text.replace(secret, HIDDEN)
    return text


def redact_url(url: str) -> str:
    """`url` with its password replaced by `***`, whatever else is wrong with it."""
    scheme, userinfo, hosts, tail = _split(url)
    if not scheme:
        return hide_passwords(url, url)
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":" + HIDDEN
    if "?" in tail:
        path, query = tail.split("?", 1)
        tail = path + "?" + _QUERY_PASSWORD.sub(r"\g<1>" + HIDDEN, query)
    return f"{scheme}://" + (f"{userinfo}@" if userinfo else "") + hosts + tail


def database_url_problem(url: str) -> str | None:
    """What is wrong with `url` as a PostgreSQL URL, or None. The answer never quotes the user
    name or password."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "it contains spaces or control characters (percent-encode them, e.g. %20)"
    scheme, userinfo, hosts, tail = _split(url)
    if scheme not in SCHEMES:
        return "it must start with postgresql:// (or postgres://)"
    for char, code in (("@", "%40"), ("/", "%2F"), ("?", "%3F"), ("#", "%23")):
        if char in userinfo:  # libpq would end the user name or password there
            return f"a {char!r} in the user name or password must be percent-encoded as {code}"
    if _BAD_PERCENT.search(userinfo) or _BAD_PERCENT.search(tail):
        return "a '%' must start a percent-encoded byte such as %25"
    path, _, query = tail.partition("?")
    if "#" in tail:
        return "a '#' must be percent-encoded as %23"
    if path.count("/") > 1:
        return "the path must be a single database name, e.g. /govdoc"
    query_host = False
    for pair in filter(None, query.split("&")):
        key, equals, _ = pair.partition("=")
        if not key:
            return "a query option has no name (write name=value)"
        if not equals:
            return f"query option {key!r} has no value (write {key}=value)"
        query_host = query_host or key in ("host", "hostaddr")
    for host in hosts.split(",") if hosts else []:
        if host.startswith("["):  # [IPv6] or [IPv6]:port
            end = host.find("]")
            if end < 0:
                return "an IPv6 host must be closed with ']'"
            port = host[end + 1 :]
            if port and not port.startswith(":"):
                return f"unexpected text after the IPv6 host: {port!r}"
            name, port = host[: end + 1], port[1:]
        else:
            name, _, port = host.partition(":")
        if not name and not query_host:
            return "a host in the host list is empty"
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            return f"the port {port!r} is not a number from 1 to 65535"
    return None
