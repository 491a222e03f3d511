"""The responsiveness score (SPEC R11): how quickly and how often a profile's team answers its
leads, and how many it lets expire. It feeds search visibility (R2). Pure: counting the leads is
the service's job (`app/services/responsiveness.py`, which computes the same formula in SQL).

Which leads count: those received in the trailing window whose answer is known — answered
(accepted or declined: `responded_at` is set), expired, or still RECEIVED past their deadline
(expired in waiting). Leads still inside their response window do not count yet.

The score, 0..100, mixes three parts, each shrunk toward a prior so that a profile with three
leads is not ranked as if it had three hundred (Bayesian shrinkage with `prior_weight` = k
pseudo-leads at the prior):

    on_time_s = (answered_on_time + k * P_ON_TIME) / (leads + k)
    expired_s = (expired + k * P_EXPIRED) / (leads + k)
    speed     = 1 / (1 + median_response_hours / 24)      1.0 when instant, 0.5 at one day
    speed_s   = (speed * answered + k * PRIOR_SPEED) / (answered + k)   answered = leads - expired
    score     = 100 * (0.5 * on_time_s + 0.3 * speed_s + 0.2 * (1 - expired_s))

rounded to 2 decimals. A profile with no counted leads gets the prior score, PRIOR_SCORE.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Priors: what we assume of a profile we know nothing about — a typical team answers 70 % of
# its leads on time, lets 15 % expire, and answers in about a day (speed 0.5).
P_ON_TIME = 0.7
P_EXPIRED = 0.15
PRIOR_SPEED = 0.5

# Weights of the parts: answering on time matters most, then speed, then not letting leads die.
W_ON_TIME = 0.5
W_SPEED = 0.3
W_NOT_EXPIRED = 0.2

DEFAULT_PRIOR_WEIGHT = 10.0


@dataclass(frozen=True)
class ResponseRecord:
    """A profile's counted leads in the window."""

    leads: int  # answered + expired
    answered_on_time: int  # responded_at <= respond_by
    expired: int  # expired, or still RECEIVED past respond_by
    median_response_hours: float | None  # over answered leads; None when none was answered

    @property
    def answered(self) -> int:
        return self.leads - self.expired


@dataclass(frozen=True)
class Responsiveness:
    score: float  # 0..100, smoothed
    answered_on_time_share: float  # raw share of counted leads; 0 when none
    median_response_hours: float | None
    expired_share: float  # raw share of counted leads; 0 when none
    leads_considered: int


def shrink(value: float, n: float, prior: float, k: float) -> float:
    """(value + k * prior) / (n + k): `value` successes out of `n`, pulled toward `prior` as if
    k more observations sat exactly at it. The prior itself when there is nothing at all."""
    if n + k == 0:
        return prior
    return (value + k * prior) / (n + k)


def speed_of(median_response_hours: float | None) -> float:
    """1.0 for an instant answer, 0.5 at one day, 0.25 at three days; PRIOR_SPEED when unknown."""
    if median_response_hours is None:
        return PRIOR_SPEED
    return 1.0 / (1.0 + max(median_response_hours, 0.0) / 24.0)


def round_score(value: float) -> float:
    """Two decimals, half away from zero on the value's 15 significant digits: exactly what
    Postgres's round(value::numeric, 2) gives, so the SQL and this module agree to the bit."""
    exact = Decimal(f"{value:.15g}").quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return float(exact)


def score(record: ResponseRecord, *, prior_weight: float = DEFAULT_PRIOR_WEIGHT) -> Responsiveness:
    if prior_weight < 0:
        raise ValueError("prior_weight must not be negative")
    if not 0 <= record.expired <= record.leads or record.answered_on_time < 0:
        raise ValueError(f"inconsistent record: {record}")
    if record.answered_on_time > record.answered:
        raise ValueError(f"more leads answered on time than answered: {record}")
    k = prior_weight
    n = record.leads
    on_time_s = shrink(record.answered_on_time, n, P_ON_TIME, k)
    expired_s = shrink(record.expired, n, P_EXPIRED, k)
    answered = record.answered
    speed_s = (
        shrink(speed_of(record.median_response_hours) * answered, answered, PRIOR_SPEED, k)
        if answered
        else PRIOR_SPEED
    )
    raw = 100 * (W_ON_TIME * on_time_s + W_SPEED * speed_s + W_NOT_EXPIRED * (1 - expired_s))
    return Responsiveness(
        score=round_score(raw),
        answered_on_time_share=record.answered_on_time / n if n else 0.0,
        median_response_hours=record.median_response_hours if answered else None,
        expired_share=record.expired / n if n else 0.0,
        leads_considered=n,
    )


# 100 * (0.5 * 0.7 + 0.3 * 0.5 + 0.2 * 0.85) = 67.0
PRIOR_SCORE = score(ResponseRecord(0, 0, 0, None)).score
