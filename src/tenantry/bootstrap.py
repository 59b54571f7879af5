"""The one wiring point: settings in, a ready `Tenantry` out. Nothing runs at import time."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from tenantry.clock import Clock, SystemClock
from tenantry.context import AccountPolicy, ServiceDeps
from tenantry.keys.service import ensure_signing_keys
from tenantry.mail.factory import build_mailer
from tenantry.organisations.provisioning import ProvisioningStep
from tenantry.outbox.ports import Mailer
from tenantry.passwords import Argon2Passwords
from tenantry.settings import Settings
from tenantry.store.sql import SqlStore
from tenantry.store.sql.migrate import migrate
from tenantry.store.sql.store import UnsafeDatabase
from tenantry.throttle import LimitsLoginThrottle
from tenantry.tokens.cipher import KeyCipher, resolve_secret_key
from tenantry.tokens.signer import CLOCK_SKEW, RING_MAX_AGE, JwtSigner

log = structlog.get_logger()


@dataclass
class Tenantry:
    """Everything an entry point needs, built once per process."""

    settings: Settings
    store: SqlStore
    deps: ServiceDeps
    mailer: Mailer
    signer: JwtSigner
    cipher: KeyCipher
    provisioning_steps: list[ProvisioningStep] = field(default_factory=list)

    @property
    def clock(self) -> Clock:
        return self.deps.clock

    def close(self) -> None:
        self.store.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    provisioning_steps: list[ProvisioningStep] | None = None,
    auto_migrate: bool = False,
) -> Tenantry:
    settings = settings or Settings()
    clock = clock or SystemClock()
    if auto_migrate:
        migrate(
            settings.migration_database_url or settings.database_url,
            runtime_url=settings.database_url,
        )
    store = SqlStore(settings.database_url)
    try:
        store.check_tenant_isolation()
    except UnsafeDatabase:
        store.dispose()
        raise
    cipher = KeyCipher(resolve_secret_key(settings))
    _ensure_keys(store, settings, clock, cipher)
    signer = JwtSigner(
        store.unit_of_work,
        cipher,
        issuer=settings.token_issuer,
        audience=settings.audience,
        clock=clock,
        # A retired key is trusted for as long as a token it signed can live, and no longer;
        # another process may go on signing with it until its cached key ring is refreshed.
        retired_key_grace=(
            timedelta(seconds=settings.access_token_ttl_seconds) + CLOCK_SKEW + RING_MAX_AGE
        ),
    )
    deps = ServiceDeps(
        clock=clock,
        passwords=Argon2Passwords(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
        ),
        signer=signer,
        throttle=LimitsLoginThrottle(
            settings.rate_limit_storage,
            per_account=settings.login_failures_per_account,
            per_ip=settings.login_failures_per_ip,
            window_seconds=settings.login_failure_window_seconds,
        ),
        policy=_account_policy(settings),
    )
    steps = (
        provisioning_steps
        if provisioning_steps is not None
        else _load_steps(settings.provisioning_steps)
    )
    return Tenantry(
        settings=settings,
        store=store,
        deps=deps,
        mailer=mailer or build_mailer(settings),
        signer=signer,
        cipher=cipher,
        provisioning_steps=steps,
    )


def _account_policy(settings: Settings) -> AccountPolicy:
    return AccountPolicy(
        access_token_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_token_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        email_token_ttl=timedelta(seconds=settings.email_token_ttl_seconds),
        reset_token_ttl=timedelta(seconds=settings.reset_token_ttl_seconds),
        require_verified_email=settings.require_verified_email,
        public_url=settings.public_url.rstrip("/"),
    )


def _ensure_keys(store: SqlStore, settings: Settings, clock: Clock, cipher: KeyCipher) -> None:
    with store.unit_of_work() as uow:
        created = ensure_signing_keys(uow, now=clock.now(), cipher=cipher, alg=settings.signing_alg)
        uow.commit()
    if created:
        log.info("keys.generated", alg=settings.signing_alg)


def _load_steps(paths: list[str]) -> list[ProvisioningStep]:
    """Each entry is `package.module:factory`, a callable returning a step."""
    steps: list[ProvisioningStep] = []
    for path in paths:
        module_name, _, attribute = path.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        steps.append(factory())
    return steps
