"""The one wiring point: settings in, a ready `Tenantry` out. Nothing runs at import time, and
building one touches no store: a Lambda cold start pays for nothing it does not use.

Deploy steps are separate: `tenantry migrate` brings the schema up, `prepare_to_serve` (run by
`tenantry serve` and `tenantry keys init`) checks tenant isolation and makes the first keys.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from tenantry.authorizer.memory import AuthorizerMemory
from tenantry.clock import Clock, SystemClock
from tenantry.context import AccountPolicy, ServiceDeps
from tenantry.domain.errors import Unavailable
from tenantry.edge import run_use_case
from tenantry.flows.jobs import JobRunner
from tenantry.flows.provisioning import InlineProvisioning
from tenantry.flows.registration import ProvisioningEngine
from tenantry.identities.issuers import TrustedIssuers
from tenantry.keys.service import ensure_signing_keys
from tenantry.mail.composer import TemplateComposer
from tenantry.mail.factory import build_mailer
from tenantry.mail.sealing import BodySeal, OpeningMailer
from tenantry.organisations.provisioning import ProvisioningStep
from tenantry.outbox.ports import Mailer
from tenantry.passwords import Argon2Passwords
from tenantry.settings import Settings
from tenantry.store.open import Store, open_store
from tenantry.throttle import LimitsLoginThrottle, ThrottleFigures
from tenantry.tokens.access_token import CLOCK_SKEW
from tenantry.tokens.cipher import KeyCipher, resolve_secret_key
from tenantry.tokens.keys import CipherKeyFactory
from tenantry.tokens.signer import RING_MAX_AGE, JwtSigner

log = structlog.get_logger()


@dataclass
class Tenantry:
    """Everything an entry point needs, built once per process."""

    settings: Settings
    store: Store
    deps: ServiceDeps
    mailer: OpeningMailer  # opens the bodies the composer sealed for the outbox
    key_factory: CipherKeyFactory
    jobs: JobRunner
    authorizer: AuthorizerMemory
    # The trusted external issuers and their key sets, fetched on first use and kept.
    issuers: TrustedIssuers
    # What provisioning runs; on Temporal, `tenantry worker` runs them (the same settings).
    provisioning_steps: list[ProvisioningStep] = field(default_factory=list)

    @property
    def clock(self) -> Clock:
        return self.deps.clock

    @property
    def signer(self) -> JwtSigner:
        signer = self.deps.signer
        assert isinstance(signer, JwtSigner)  # bootstrap builds no other
        return signer

    def close(self) -> None:
        self.authorizer.close()
        self.jobs.provisioning.close()
        self.store.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    provisioning_steps: list[ProvisioningStep] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Tenantry:
    """`monotonic` times the issuers' key sets (their TTL and refetch interval)."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    store = open_store(settings.database_url)
    secret = resolve_secret_key(settings)
    key_factory = CipherKeyFactory(settings.signing_alg, KeyCipher(secret))
    seal = BodySeal(secret)
    signer = JwtSigner(
        store.unit_of_work,
        key_factory.cipher,
        issuer=settings.token_issuer,
        audience=settings.audience,
        clock=clock,
        # A retired key is trusted for as long as a token it signed can live, and no longer;
        # another process may go on signing with it until its cached key ring is refreshed.
        retired_key_grace=(
            timedelta(seconds=settings.access_token_ttl_seconds) + CLOCK_SKEW + RING_MAX_AGE
        ),
    )
    steps = (
        provisioning_steps
        if provisioning_steps is not None
        else _load_steps(settings.provisioning_steps)
    )
    deps = _service_deps(settings, clock, signer, seal)
    provisioning = _provisioning_engine(settings, store, deps, steps)
    return Tenantry(
        settings=settings,
        store=store,
        deps=deps,
        mailer=OpeningMailer(mailer or build_mailer(settings), seal),
        key_factory=key_factory,
        jobs=JobRunner(store.unit_of_work, clock, provisioning),
        provisioning_steps=steps,
        authorizer=AuthorizerMemory(listen=store.listen_for_changes),
        issuers=TrustedIssuers(settings.trusted_issuers, monotonic=monotonic),
    )


def prepare_to_serve(tenantry: Tenantry) -> None:
    """Refuse a store that would not keep tenants apart, and make the first signing keys."""
    tenantry.store.check_tenant_isolation()
    created = run_use_case(
        tenantry.store.unit_of_work,
        lambda uow: ensure_signing_keys(
            uow, now=tenantry.clock.now(), factory=tenantry.key_factory
        ),
        clock=tenantry.clock,
    )
    if created:
        log.info("keys.generated", alg=tenantry.key_factory.alg)


def _service_deps(
    settings: Settings, clock: Clock, signer: JwtSigner, seal: BodySeal
) -> ServiceDeps:
    return ServiceDeps(
        clock=clock,
        passwords=Argon2Passwords(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
        ),
        signer=signer,
        throttle=LimitsLoginThrottle(
            settings.rate_limit_storage,
            ThrottleFigures(
                window_seconds=settings.login_failure_window_seconds,
                per_pair=settings.login_failures_per_pair,
                per_ip=settings.login_failures_per_ip,
                account_window_seconds=settings.login_account_window_seconds,
                account_soft_limit=settings.login_account_soft_limit,
                per_account=settings.login_failures_per_account,
                usual_address_seconds=settings.login_usual_address_days * 86_400,
                mail_window_seconds=settings.mail_request_window_seconds,
                mail_per_email=settings.mail_requests_per_email,
                mail_per_ip=settings.mail_requests_per_ip,
            ),
            clock=clock,
        ),
        policy=_account_policy(settings),
        composer=TemplateComposer(
            settings.resolved_public_url(), settings.mail_templates_dir, seal=seal
        ),
    )


def _account_policy(settings: Settings) -> AccountPolicy:
    return AccountPolicy(
        access_token_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_token_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        email_token_ttl=timedelta(seconds=settings.email_token_ttl_seconds),
        reset_token_ttl=timedelta(seconds=settings.reset_token_ttl_seconds),
        require_verified_email=settings.require_verified_email,
        max_sessions_per_user=settings.max_sessions_per_user,
        max_organisations_per_user_per_day=settings.max_organisations_per_user_per_day,
        signup_reveals_existing=settings.signup_reveals_existing,
        allow_special_use_email_domains=settings.allows_special_use_email_domains,
        invitation_ttl=timedelta(seconds=settings.invitation_ttl_seconds),
        invitations_per_org_per_day=settings.invitations_per_org_per_day,
        invitation_resends=settings.invitation_resends,
        invitation_bulk_max=settings.bulk_invitation_max,
    )


def _provisioning_engine(
    settings: Settings, store: Store, deps: ServiceDeps, steps: list[ProvisioningStep]
) -> ProvisioningEngine:
    if settings.workflows == "inline":
        return InlineProvisioning(store.unit_of_work, deps, steps)
    try:
        from tenantry.flows.temporal.engine import TemporalProvisioning, TemporalTarget
    except ImportError as error:
        raise Unavailable(
            "TENANTRY_WORKFLOWS=temporal needs temporalio: pip install 'tenantry[temporal]'",
            code="temporal_extra_missing",
        ) from error
    target = TemporalTarget(
        settings.temporal_address, settings.temporal_namespace, settings.temporal_task_queue
    )
    names = [step.name for step in steps]
    return TemporalProvisioning(
        target,
        names,
        step_attempts=settings.temporal_step_attempts,
        step_timeout_seconds=settings.temporal_step_timeout_seconds,
    )


def _load_steps(paths: list[str]) -> list[ProvisioningStep]:
    """Each entry is `package.module:factory`, a callable returning a step."""
    steps: list[ProvisioningStep] = []
    for path in paths:
        module_name, _, attribute = path.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        steps.append(factory())
    return steps
