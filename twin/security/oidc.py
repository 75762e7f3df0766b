"""OpenID Connect sign-in for agents: authorization-code flow with PKCE against the territory's provider.

The provider (Keycloak, ProConnect, Glewlwyd…) authenticates the agent, including any second factor: an
OIDC session is therefore ``full`` scope whatever the role. See docs/security-oidc.md.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from psycopg.rows import tuple_row
from starlette.concurrency import run_in_threadpool

from twin.db import connect
from twin.errors import HyperviseurError, InvalidInput, NotFound, Unauthorized
from twin.security.accounts import EMAIL_CONTEXT
from twin.security.crypto import Keyring
from twin.security.roles import Role, parse_role
from twin.security.routes import _client_addr, _set_cookie
from twin.security.sessions import create_session
from twin.settings import SecuritySettings

PENDING_TTL = timedelta(minutes=10)
STATE_COOKIE = "hv_oidc_state"
CALLBACK_PATH = "/api/auth/oidc/callback"
DISCOVERY_TTL_S = 3600
JWKS_REFRESH_MIN_S = 30
CLOCK_LEEWAY_S = 60
# Asymmetric only: an HS256 ID token would be signed with our own client secret.
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,62}")
NOT_CONFIGURED = (
    "OIDC sign-in is not configured (set HYPERVISEUR_OIDC_ISSUER, HYPERVISEUR_OIDC_CLIENT_ID,"
    " HYPERVISEUR_OIDC_CLIENT_SECRET and HYPERVISEUR_OIDC_REDIRECT_URL); sign in with POST /api/auth/sign-in"
)


class ProviderUnavailable(HyperviseurError):
    """The OpenID provider could not be reached or answered something unusable."""

    http_status = 502


class BadSignature(Unauthorized):
    """The ID token is not signed by any key of the provider's JWKS (perhaps rotated since cached)."""


@dataclass
class _ProviderCache:
    """Discovery document and JWKS of the configured issuer, kept on ``app.state``."""

    metadata: dict[str, Any] | None = None
    metadata_at: float = 0.0
    jwks: dict[str, Any] | None = None
    jwks_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _cache(request: Request) -> _ProviderCache:
    state = request.app.state
    if not hasattr(state, "oidc_cache"):
        state.oidc_cache = _ProviderCache()
    cache: _ProviderCache = state.oidc_cache
    return cache


def _configured(sec: SecuritySettings) -> SecuritySettings:
    if not sec.oidc_issuer:
        raise NotFound(NOT_CONFIGURED)
    if not (sec.oidc_client_id and sec.oidc_client_secret):
        raise HyperviseurError(
            "OIDC is half configured: HYPERVISEUR_OIDC_CLIENT_ID and HYPERVISEUR_OIDC_CLIENT_SECRET are required"
        )
    return sec


def validate_return_to(value: str) -> str:
    """Accept only a path on this site, so that the sign-in cannot be used as an open redirect.

    Examples
    --------
    >>> validate_return_to("/map?layer=roads")
    '/map?layer=roads'
    """
    bad = (
        not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
        or len(value) > 2000
    )
    parts = urlsplit(value)
    if bad or parts.scheme or parts.netloc:
        raise InvalidInput(
            f"return_to {value[:100]!r} is not a path on this site: send a relative path starting with '/'"
        )
    return value


def role_from_claims(claims: dict[str, Any], *, claim: str, default: str) -> Role:
    """The first value of ``claims[claim]`` (a list or a space-separated string) that is an account role.

    Examples
    --------
    >>> role_from_claims({"roles": "agent planner admin"}, claim="roles", default="analyst")
    <Role.PLANNER: 'planner'>
    >>> role_from_claims({}, claim="roles", default="analyst")
    <Role.ANALYST: 'analyst'>
    """
    value = claims.get(claim)
    values = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    for candidate in values:
        if isinstance(candidate, str):
            try:
                return parse_role(candidate.strip().lower())
            except ValueError:
                continue
    try:
        return parse_role(default)
    except ValueError as exc:
        raise HyperviseurError(f"HYPERVISEUR_OIDC_DEFAULT_ROLE: {exc}") from None


def username_from_claims(claims: dict[str, Any]) -> str:
    """An account name matching ``^[a-z][a-z0-9._-]{1,62}$`` from preferred_username or the e-mail's local part.

    Examples
    --------
    >>> username_from_claims({"preferred_username": "Élise Martin"})
    'elise-martin'
    >>> username_from_claims({"email": "7.dupont@ville.example"})
    'u7.dupont'
    """
    raw = claims.get("preferred_username") or str(claims.get("email") or "").split("@")[0] or "agent"
    ascii_name = unicodedata.normalize("NFKD", str(raw)).encode("ascii", "ignore").decode().lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", ascii_name).strip("-._")
    if not name[:1].isalpha():
        name = "u" + name
    name = name[:63]
    return name if _USERNAME.fullmatch(name) else "agent"


def _pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def _get_json(sec: SecuritySettings, url: str, what: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(verify=sec.oidc_verify_tls, timeout=10) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnavailable(f"could not read the provider's {what} at {url}: {exc}") from None
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"the provider's {what} at {url} is not a JSON object")
    return body


async def _metadata(request: Request, sec: SecuritySettings) -> dict[str, Any]:
    cache = _cache(request)
    async with cache.lock:
        if cache.metadata is None or time.monotonic() - cache.metadata_at > DISCOVERY_TTL_S:
            issuer = (sec.oidc_issuer or "").rstrip("/")
            meta = await _get_json(sec, issuer + "/.well-known/openid-configuration", "discovery document")
            if str(meta.get("issuer", "")).rstrip("/") != issuer:
                raise ProviderUnavailable(
                    f"the discovery document names issuer {meta.get('issuer')!r}, not {sec.oidc_issuer!r}:"
                    " set HYPERVISEUR_OIDC_ISSUER to the provider's exact issuer"
                )
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(meta.get(key), str):
                    raise ProviderUnavailable(f"the provider's discovery document has no {key}")
            cache.metadata, cache.metadata_at = meta, time.monotonic()
        return cache.metadata


async def _jwks(
    request: Request, sec: SecuritySettings, meta: dict[str, Any], *, refresh: bool
) -> dict[str, Any]:
    cache = _cache(request)
    async with cache.lock:
        stale = refresh and time.monotonic() - cache.jwks_at > JWKS_REFRESH_MIN_S
        if cache.jwks is None or stale:
            cache.jwks, cache.jwks_at = await _get_json(sec, meta["jwks_uri"], "JWKS"), time.monotonic()
        return cache.jwks


def validate_id_token(
    id_token: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    client_id: str,
    nonce: str,
    algorithms: list[str] | tuple[str, ...] = SIGNING_ALGORITHMS,
    now: int | None = None,
) -> dict[str, Any]:
    """Check an ID token's signature (against the provider's JWKS), iss, aud, azp, exp, iat, nonce and sub.

    Raises Unauthorized saying which check failed; returns the claims.
    """
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=list(algorithms))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError) as exc:
        raise BadSignature(f"the ID token's signature is not valid for the provider's keys: {exc}") from None
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=CLOCK_LEEWAY_S,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise Unauthorized(f"the ID token was refused: {exc}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise Unauthorized("the ID token has several audiences but its azp is not our client id")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise Unauthorized("the ID token has an empty subject")
    return claims


async def _exchange_code(
    sec: SecuritySettings, meta: dict[str, Any], *, code: str, verifier: str, redirect_uri: str
) -> dict[str, Any]:
    methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    headers = {"Accept": "application/json"}
    client_id, secret = sec.oidc_client_id or "", sec.oidc_client_secret or ""
    if "client_secret_basic" in methods:
        # RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
        pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    elif "client_secret_post" in methods:
        form |= {"client_id": client_id, "client_secret": secret}
    else:
        raise ProviderUnavailable(f"the token endpoint accepts none of client_secret_basic/_post ({methods})")
    try:
        async with httpx.AsyncClient(verify=sec.oidc_verify_tls, timeout=10) as client:
            response = await client.post(meta["token_endpoint"], data=form, headers=headers)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"could not reach the provider's token endpoint: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("id_token"):
        error = body.get("error", f"HTTP {response.status_code}") if isinstance(body, dict) else "?"
        raise Unauthorized(
            f"the provider refused the authorization code ({error}): it may be expired or already used;"
            " sign in again from /api/auth/oidc/login"
        )
    return body


def _redirect_uri(request: Request, sec: SecuritySettings) -> str:
    if sec.oidc_redirect_url:
        return sec.oidc_redirect_url
    public = request.app.state.settings.server.public_url
    return (public.rstrip("/") + CALLBACK_PATH) if public else str(request.url_for("oidc_callback"))


def sign_in_oidc_account(
    conn: psycopg.Connection[Any], keyring: Keyring, *, issuer: str, claims: dict[str, Any], role: Role
) -> tuple[int, str]:
    """Find the account of (issuer, sub), creating it on first sign-in; set its role; return (id, username).

    The role follows the provider at every sign-in; a disabled account stays refused whatever it says.
    """
    subject = claims["sub"]
    display_name = claims.get("name") if isinstance(claims.get("name"), str) else None
    email = claims.get("email") if isinstance(claims.get("email"), str) and "@" in claims["email"] else None
    cur = conn.cursor(row_factory=tuple_row)  # whatever row factory the connection has
    for _ in range(5):
        row = cur.execute(
            "SELECT id, username, disabled FROM auth.accounts WHERE oidc_issuer = %s AND oidc_subject = %s"
            " FOR UPDATE",
            (issuer, subject),
        ).fetchone()
        if row is not None:
            account_id, username, disabled = row[0], row[1], row[2]
            if disabled:
                raise Unauthorized("this account is disabled: ask an administrator")
            cur.execute(
                "UPDATE auth.accounts SET role = %s, last_signin_at = now(),"
                " display_name = coalesce(%s, display_name) WHERE id = %s",
                (role.value, display_name, account_id),
            )
            return int(account_id), str(username)
        base = username_from_claims(claims)
        taken = {
            r[0]
            for r in cur.execute(
                "SELECT username FROM auth.accounts WHERE username = %s OR username LIKE %s",
                (base, base[:56] + "-%"),
            )
        }
        username = base
        n = 2
        while username in taken:
            username, n = f"{base[:56]}-{n}", n + 1
        try:
            with conn.transaction():
                new = cur.execute(
                    "INSERT INTO auth.accounts (username, display_name, role, email_enc, oidc_issuer,"
                    " oidc_subject, last_signin_at) VALUES (%s, %s, %s, %s, %s, %s, now()) RETURNING id",
                    (
                        username,
                        display_name,
                        role.value,
                        keyring.encrypt(email, context=EMAIL_CONTEXT) if email else None,
                        issuer,
                        subject,
                    ),
                ).fetchone()
            assert new is not None
            return int(new[0]), username
        except psycopg.errors.UniqueViolation:
            continue  # a concurrent sign-in took the name or created the account: look again
    raise HyperviseurError("could not create the account for this OIDC sign-in: try again")


def oidc_router() -> APIRouter:
    router = APIRouter(prefix="/api/auth/oidc", tags=["Authentification"])

    @router.get("/login", summary="Se connecter via le fournisseur d'identité (OIDC)", status_code=302)
    async def login(request: Request, return_to: str = "/") -> RedirectResponse:
        sec = _configured(request.app.state.settings.security)
        return_to = validate_return_to(return_to)
        meta = await _metadata(request, sec)
        offered_scopes = meta.get("scopes_supported") or []
        state, nonce, verifier = (
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(64),
        )
        async with request.app.state.pool.connection() as conn:
            await conn.execute("DELETE FROM auth.oidc_pending WHERE created_at < now() - %s", (PENDING_TTL,))
            await conn.execute(
                "INSERT INTO auth.oidc_pending (state, nonce, code_verifier, return_to) VALUES (%s, %s, %s, %s)",
                (state, nonce, verifier, return_to),
            )
        query = {
            "response_type": "code",
            "client_id": sec.oidc_client_id,
            "redirect_uri": _redirect_uri(request, sec),
            "scope": " ".join(["openid", *(s for s in ("profile", "email") if s in offered_scopes)]),
            "state": state,
            "nonce": nonce,
            "code_challenge": _pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        endpoint = meta["authorization_endpoint"]
        response = RedirectResponse(endpoint + ("&" if "?" in endpoint else "?") + urlencode(query), 302)
        # Binds the sign-in to this browser (login CSRF); Lax so that the provider's redirect carries it.
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=int(PENDING_TTL.total_seconds()),
            httponly=True,
            secure=request.url.scheme == "https" or sec.behind_tls_proxy,
            samesite="lax",
            path="/api/auth/oidc",
        )
        return response

    @router.get(
        "/callback", summary="Retour du fournisseur d'identité (OIDC)", status_code=302, name="oidc_callback"
    )
    async def callback(
        request: Request,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> RedirectResponse:
        sec = _configured(request.app.state.settings.security)
        ours = bool(state) and secrets.compare_digest(request.cookies.get(STATE_COOKIE, ""), state or "")
        if error:
            if ours:
                async with request.app.state.pool.connection() as conn:
                    await conn.execute("DELETE FROM auth.oidc_pending WHERE state = %s", (state,))
            said = f"{error} {error_description or ''}".strip()[:300]
            raise Unauthorized(f"the identity provider refused the sign-in: {said}")
        if not code or not state:
            raise InvalidInput("the callback needs both 'code' and 'state': start at /api/auth/oidc/login")
        if not ours:
            raise InvalidInput(
                "this OIDC state does not belong to this browser's sign-in: start again at /api/auth/oidc/login"
            )
        async with request.app.state.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM auth.oidc_pending WHERE state = %s RETURNING nonce, code_verifier, return_to, created_at",
                (state,),
            )
            pending = await cur.fetchone()
        if pending is None:
            raise InvalidInput("unknown or already used OIDC state: start again at /api/auth/oidc/login")
        nonce, verifier, return_to, created_at = pending
        if created_at < datetime.now(UTC) - PENDING_TTL:
            raise InvalidInput(
                "this sign-in took longer than 10 minutes: start again at /api/auth/oidc/login"
            )
        meta = await _metadata(request, sec)
        tokens = await _exchange_code(
            sec, meta, code=code, verifier=verifier, redirect_uri=_redirect_uri(request, sec)
        )
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in SIGNING_ALGORITHMS if a in offered] or ["RS256"]
        check = {"issuer": meta["issuer"], "client_id": sec.oidc_client_id or "", "nonce": nonce}
        try:
            jwks = await _jwks(request, sec, meta, refresh=False)
            claims = validate_id_token(tokens["id_token"], jwks=jwks, algorithms=algorithms, **check)
        except BadSignature:
            # The provider may have rotated its keys since we cached them: look once more.
            jwks = await _jwks(request, sec, meta, refresh=True)
            claims = validate_id_token(tokens["id_token"], jwks=jwks, algorithms=algorithms, **check)
        role = role_from_claims(claims, claim=sec.oidc_roles_claim, default=sec.oidc_default_role)

        def work() -> str:
            with connect(request.app.state.database_url) as conn:
                account_id, _ = sign_in_oidc_account(
                    conn, request.app.state.keyring, issuer=meta["issuer"], claims=claims, role=role
                )
                token, _ = create_session(
                    conn,
                    account_id,
                    method="oidc",
                    scope="full",  # any second factor was the provider's job
                    ttl_s=sec.session_ttl_s,
                    client_addr=_client_addr(request),
                    user_agent=request.headers.get("user-agent"),
                )
                conn.commit()
            return token

        token = await run_in_threadpool(work)
        response = RedirectResponse(validate_return_to(return_to), 302)
        _set_cookie(request, response, token, sec.session_ttl_s)
        response.delete_cookie(STATE_COOKIE, path="/api/auth/oidc")
        return response

    return router
