"""Sign-in, sign-out, own account and TOTP enrolment; account administration for admins."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from twin.db import connect
from twin.security import accounts, audit
from twin.security.deps import require
from twin.security.permissions import Group
from twin.security.roles import Principal
from twin.security.sessions import COOKIE_NAME, create_session, revoke_session


class SignIn(BaseModel):
    username: str = Field(min_length=1, max_length=63)
    password: str = Field(min_length=1, max_length=256)
    totp_code: str | None = Field(default=None, max_length=10)


class SessionOut(BaseModel):
    token: str
    expires_at: datetime
    username: str
    role: str
    scope: str


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class TotpCode(BaseModel):
    code: str = Field(min_length=6, max_length=10)


class AccountIn(BaseModel):
    username: str = Field(min_length=2, max_length=63)
    role: str
    password: str | None = Field(default=None, max_length=256)
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)


# Module level: with postponed annotations FastAPI resolves these names in the module's globals.
SessionPrincipal = Annotated[Principal, Depends(require(Group.SESSION, session=True))]


def _client_addr(request: Request) -> str | None:
    """The peer's IP address, or None when the transport gives something else (e.g. a test client)."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def _set_cookie(request: Request, response: Response, token: str, ttl_s: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=ttl_s,
        httponly=True,
        secure=request.url.scheme == "https" or request.app.state.settings.security.behind_tls_proxy,
        samesite="strict",
        path="/",
    )


def auth_router() -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["Authentification"])

    @router.post("/sign-in", summary="Se connecter", response_model=SessionOut)
    async def sign_in(body: SignIn, request: Request, response: Response) -> SessionOut:
        app = request.app
        sec = app.state.settings.security

        def work() -> SessionOut:
            username = body.username.strip().lower()
            with (
                connect(app.state.database_url) as conn,
                audit.audited_sign_in(conn, username=username, client_addr=audit.client_addr_of(request)),
            ):
                account, scope = accounts.authenticate(
                    conn,
                    app.state.keyring,
                    username=username,
                    password=body.password,
                    totp_code=body.totp_code,
                    free_failures=sec.lockout_free_failures,
                    hard_failures=sec.lockout_hard_failures,
                )
                token, expires_at = create_session(
                    conn,
                    account.id,
                    method="password",
                    scope=scope,
                    ttl_s=sec.session_ttl_s,
                    client_addr=_client_addr(request),
                    user_agent=request.headers.get("user-agent"),
                )
            return SessionOut(
                token=token, expires_at=expires_at, username=account.username, role=account.role, scope=scope
            )

        out = await run_in_threadpool(work)
        _set_cookie(request, response, out.token, sec.session_ttl_s)
        return out

    @router.post("/sign-out", summary="Se déconnecter", status_code=204)
    async def sign_out(request: Request, principal: SessionPrincipal) -> Response:
        async with request.app.state.pool.connection() as conn:
            await revoke_session(conn, principal.session_id or 0)
        _forget_principals(request)
        response = Response(status_code=204)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response

    @router.get("/me", summary="Mon compte")
    async def me(principal: SessionPrincipal) -> dict[str, Any]:
        return {
            "username": principal.username,
            "role": principal.role.value,
            "scope": principal.scope,
            "method": principal.method,
        }

    @router.post("/password", summary="Changer mon mot de passe", status_code=204)
    async def change_password(
        body: PasswordChange, request: Request, principal: SessionPrincipal
    ) -> Response:
        def work() -> None:
            with audit.connect_for(request) as conn:
                accounts.change_password(
                    conn, principal.account_id or 0, current=body.current_password, new=body.new_password
                )
                conn.commit()

        await run_in_threadpool(work)
        _forget_principals(request)
        return Response(status_code=204)

    @router.post("/totp/setup", summary="Enrôler un second facteur (TOTP)")
    async def totp_setup(request: Request, principal: SessionPrincipal) -> dict[str, str]:
        def work() -> str:
            with audit.connect_for(request) as conn:
                uri = accounts.begin_totp_enrolment(
                    conn, request.app.state.keyring, principal.account_id or 0
                )
                conn.commit()
                return uri

        return {"otpauth_uri": await run_in_threadpool(work)}

    @router.post("/totp/confirm", summary="Confirmer le second facteur", status_code=204)
    async def totp_confirm(body: TotpCode, request: Request, principal: SessionPrincipal) -> Response:
        def work() -> None:
            with audit.connect_for(request) as conn:
                accounts.confirm_totp_enrolment(
                    conn, request.app.state.keyring, principal.account_id or 0, body.code
                )
                # The enrolment session has served its purpose: sign in again with the code.
                conn.execute(
                    "UPDATE auth.sessions SET revoked_at = now() WHERE id = %s", (principal.session_id,)
                )
                conn.commit()

        await run_in_threadpool(work)
        _forget_principals(request)
        return Response(status_code=204)

    return router


def accounts_router() -> APIRouter:
    router = APIRouter(
        prefix="/api/accounts",
        tags=["Comptes"],
        dependencies=[Depends(require(Group.ACCOUNTS, session=True))],
    )

    @router.get("", summary="Lister les comptes")
    async def list_all(request: Request) -> dict[str, Any]:
        def work() -> list[dict[str, Any]]:
            with audit.connect_for(request) as conn:
                return [a.public() for a in accounts.list_accounts(conn)]

        return {"accounts": await run_in_threadpool(work)}

    @router.post("", summary="Créer un compte", status_code=201)
    async def create(body: AccountIn, request: Request) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with audit.connect_for(request) as conn:
                new = accounts.create_account(
                    conn,
                    request.app.state.keyring,
                    username=body.username,
                    role=body.role,
                    password=body.password,
                    display_name=body.display_name,
                    email=body.email,
                )
                conn.commit()
            # The password and TOTP URI are shown this once, to the admin who hands them over.
            return {"account": new.account.public(), "password": new.password, "totp_uri": new.totp_uri}

        return await run_in_threadpool(work)

    @router.post("/{username}/disable", summary="Désactiver un compte")
    async def disable(username: str, request: Request) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with audit.connect_for(request) as conn:
                account = accounts.disable_account(conn, username)
                conn.commit()
                return account.public()

        out = await run_in_threadpool(work)
        _forget_principals(request)
        return out

    @router.post("/{username}/reset-password", summary="Réinitialiser un mot de passe")
    async def reset(username: str, request: Request) -> dict[str, str]:
        def work() -> str:
            with audit.connect_for(request) as conn:
                password = accounts.reset_password(conn, username)
                conn.commit()
                return password

        password = await run_in_threadpool(work)
        _forget_principals(request)
        return {"password": password}

    return router


def _forget_principals(request: Request) -> None:
    """This process forgets cached principals at once (other processes hear ``auth_changed`` a moment later)."""
    cache = getattr(request.app.state, "principals", None)
    if cache is not None:
        cache.clear()
