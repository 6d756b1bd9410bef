"""What an IP camera says to our login, and its URL fit to print.

OpenCV reports every failed open alike ("cannot open"), so a wrong password would look like a dead
camera and be retried every few seconds; many cameras lock the account after a handful of failed
logins. When a stream will not open, `refused_login` asks the camera once itself (an RTSP DESCRIBE
with Basic or Digest authentication, or an HTTP GET) and says whether it answered 401. `redact`
hides the password in every message and log line.
"""

from __future__ import annotations

import hashlib
import re
import socket
import urllib.error
import urllib.request
from base64 import b64encode
from urllib.parse import unquote, urlsplit

_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@]*):[^@/]*@", re.IGNORECASE)


def redact(source: str) -> str:
    """`rtsp://admin:secret@10.0.0.5/s1` -> `rtsp://admin:***@10.0.0.5/s1`; anything else as it is."""
    return _PASSWORD.sub(r"\1:***@", source)


def refused_login(url: str, timeout: float = 5.0) -> bool:
    """True when the camera at `url` answers 401 to our login (or to none given). False for any other
    answer, or none: then the camera is down or the stream is wrong, which the caller reports."""
    try:
        if url.lower().startswith(("rtsp://", "rtsps://")):
            return _rtsp_status(url, timeout) == 401
        if url.lower().startswith(("http://", "https://")):
            return _http_status(url, timeout) == 401
    except (OSError, ValueError):
        return False
    return False


def _credentials(url: str) -> tuple[str, str, str]:
    """(user, password, the URL without them)."""
    parts = urlsplit(url)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return user, password, parts._replace(netloc=netloc).geturl()


def _http_status(url: str, timeout: float) -> int:
    user, password, bare = _credentials(url)
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, bare, user, password)
    opener = urllib.request.build_opener(
        urllib.request.HTTPBasicAuthHandler(passwords), urllib.request.HTTPDigestAuthHandler(passwords)
    )
    try:
        with opener.open(bare, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _rtsp_status(url: str, timeout: float) -> int:
    user, password, bare = _credentials(url)
    parts = urlsplit(bare)
    with socket.create_connection((parts.hostname or "", parts.port or 554), timeout=timeout) as conn:
        status, headers = _describe(conn, bare, 1, {"Authorization": _basic(user, password)} if user else {})
        challenge = headers.get("www-authenticate", "")
        if status == 401 and user and challenge.lower().startswith("digest"):
            status, _ = _describe(conn, bare, 2, {"Authorization": _digest(challenge, user, password, bare)})
        return status


def _describe(conn: socket.socket, url: str, cseq: int, extra: dict[str, str]) -> tuple[int, dict[str, str]]:
    lines = [f"DESCRIBE {url} RTSP/1.0", f"CSeq: {cseq}", "Accept: application/sdp", "User-Agent: checkpoint"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status_line = head[0].split()
    if len(status_line) < 2 or not status_line[0].startswith("RTSP/"):
        raise ValueError("not an RTSP answer")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
    length = int(headers.get("content-length", "0") or 0)
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    while len(body) < length:  # read the body so the next request starts clean
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return int(status_line[1]), headers


def _basic(user: str, password: str) -> str:
    return "Basic " + b64encode(f"{user}:{password}".encode()).decode()


def _digest(challenge: str, user: str, password: str, url: str) -> str:
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()  # noqa: S324 - RTSP Digest is MD5
    ha2 = hashlib.md5(f"DESCRIBE:{url}".encode()).hexdigest()  # noqa: S324
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()  # noqa: S324
    return f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{url}", response="{response}"'
