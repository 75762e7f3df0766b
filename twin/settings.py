"""Validated settings, one class per concern, read from ``HYPERVISEUR_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DatabaseSettings(BaseSettings):
    """Where the database is: an external URL, or the embedded cluster under ``var/``."""

    model_config = SettingsConfigDict(env_prefix="HYPERVISEUR_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="postgresql:// URL of an external database; unset = embedded cluster"
    )
    var_dir: Path = Field(
        default=PROJECT_ROOT / "var", description="folder of the embedded cluster and caches"
    )
    db_port: int = Field(default=55432, ge=1024, le=65535, description="port of the embedded cluster")
    pool_min_size: int = Field(default=1, ge=1)
    pool_max_size: int = Field(default=10, ge=1)

    @field_validator("database_url")
    @classmethod
    def _must_be_postgres(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("HYPERVISEUR_DATABASE_URL must start with postgresql://")
        return value


class ServerSettings(BaseSettings):
    """How the HTTP server presents itself."""

    model_config = SettingsConfigDict(env_prefix="HYPERVISEUR_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = Field(default=None, description="URL clients see, for absolute links")
    items_default_limit: int = Field(default=100, ge=1)
    items_max_limit: int = Field(default=10_000, ge=1)
    count_exact_up_to: int = Field(
        default=100_000,
        ge=0,
        description="numberMatched is counted exactly up to this many rows, else omitted",
    )


class SecuritySettings(BaseSettings):
    """Accounts, sessions, sign-in protection, encryption keys, TLS, OIDC and web hardening."""

    model_config = SettingsConfigDict(env_prefix="HYPERVISEUR_", extra="ignore")

    session_ttl_s: int = Field(default=8 * 3600, ge=60, description="lifetime of a sign-in session")
    principal_cache_s: float = Field(
        default=5.0,
        ge=0,
        description="how long a process keeps a session's principal in memory (0: look it up every request);"
        " any revocation, expiry or role change clears it at once",
    )
    lockout_free_failures: int = Field(default=3, ge=1, description="failed sign-ins before back-off starts")
    lockout_hard_failures: int = Field(default=10, ge=2, description="failed sign-ins that lock for an hour")
    data_keys: str | None = Field(
        default=None,
        description="keyring for personal data: 'id:base64key,...', first = current (AES-256-GCM, 32-byte keys)",
    )
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    behind_tls_proxy: bool = Field(default=False, description="a reverse proxy terminates TLS: send HSTS")
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed by CORS; none by default"
    )
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    signin_rate_per_min: int = Field(default=20, ge=1, description="sign-in attempts per client address")
    expensive_rate_per_min: int = Field(
        default=120, ge=1, description="expensive requests per client address"
    )
    oidc_issuer: str | None = Field(default=None, description="OpenID Connect issuer URL; unset = OIDC off")
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = Field(
        default=None, description="our callback URL registered at the provider"
    )
    oidc_roles_claim: str = Field(default="roles", description="ID-token claim holding the user's roles")
    oidc_default_role: str = Field(default="analyst", description="role of an OIDC user without a known role")
    oidc_verify_tls: bool = True


class TileSettings(BaseSettings):
    """Vector tile cache and change feed."""

    model_config = SettingsConfigDict(env_prefix="HYPERVISEUR_TILES_", extra="ignore")

    memory_mb: int = Field(default=256, ge=0, description="memory cache budget; 0 = no memory cache")
    disk_cache: bool = Field(default=True, description="also keep rendered tiles on disk, under var/tiles")
    disk_dir: Path | None = Field(default=None, description="disk cache folder; unset = <var_dir>/tiles")
    source_maxzoom: int = Field(
        default=16, ge=0, le=22, description="maxzoom announced in TileJSON: clients overzoom beyond it"
    )
    changes_kept_days: int = Field(default=7, ge=1, description="how long tiles.changes rows are kept")
    render_connections: int = Field(
        default=4, ge=1, le=64, description="database connections kept for rendering tiles, per process"
    )
    replay_margin_s: float = Field(
        default=120.0,
        ge=0,
        description="after a restart or reconnection, changes recorded this long before the last one seen are"
        " replayed too: a transaction may commit after a later-numbered change",
    )


class MqttSettings(BaseSettings):
    """The MQTT broker sensors publish to: an external one, or the project's Mosquitto under ``var/``."""

    model_config = SettingsConfigDict(env_prefix="HYPERVISEUR_MQTT_", extra="ignore")

    url: str | None = Field(
        default=None, description="mqtt://host:port of an external broker; unset = the embedded Mosquitto"
    )
    port: int = Field(default=51883, ge=1024, le=65535, description="port of the embedded broker (127.0.0.1)")
    topic_prefix: str = Field(default="hyperviseur", description="first level of every sensing topic")
    client_id: str = Field(
        default="hyperviseur-ingest",
        description="the ingester's client id: its persistent session on the broker is kept under this name",
    )

    @field_validator("url")
    @classmethod
    def _must_be_mqtt(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("mqtt://"):
            raise ValueError("HYPERVISEUR_MQTT_URL must look like mqtt://host:port")
        return value


class SensingSettings(BaseSettings):
    """Live sensing: where the ingester runs, how long data is kept, the demo simulator."""

    model_config = SettingsConfigDict(env_prefix="HYPERVISEUR_SENSING_", extra="ignore")

    ingest: bool = Field(
        default=True,
        description="run the MQTT ingester inside the server (false: run `hyperviseur sensing ingest` apart)",
    )
    raw_retention_days: int = Field(
        default=0, ge=0, description="raw readings older than this are dropped once rolled up (0: keep all)"
    )
    rejected_retention_days: int = Field(
        default=90, ge=1, description="refused readings (sensing.rejected) are kept this long for operators"
    )
    events_retention_days: int = Field(
        default=30, ge=1, description="logged live events (incidents, detections) replayable for this long"
    )
    simulator: bool = Field(
        default=False,
        description="publish simulated readings of the demo sensors to MQTT (make demo sets it)",
    )


class SimulationSettings(BaseSettings):
    """Consequence simulation: scenario workers, incidents' automatic consequences."""

    model_config = SettingsConfigDict(env_prefix="HYPERVISEUR_SIMULATION_", extra="ignore")

    auto_consequences: bool = Field(
        default=True,
        description="compute every incident's consequences automatically (false: only when asked by POST)",
    )
    workers: int = Field(
        default=1,
        ge=0,
        le=64,
        description="worker processes running what-if scenarios (0: none in this process, runs wait in the queue)",
    )
    prevailing_wind_from_deg: float | None = Field(
        default=None,
        ge=0,
        le=360,
        description="prevailing wind direction (from, degrees) for air incidents; unset = wind unknown",
    )


class Settings(BaseSettings):
    """All settings of one Hyperviseur instance."""

    model_config = SettingsConfigDict(env_prefix="HYPERVISEUR_", extra="ignore")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    tiles: TileSettings = Field(default_factory=TileSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    sensing: SensingSettings = Field(default_factory=SensingSettings)
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
