"""The responsiveness score's formula (SPEC R11) on hand-made records. Expected numbers are worked
out by hand in the comments (k = 10 unless said otherwise)."""

from __future__ import annotations

import pytest

from app.domain.responsiveness import (
    PRIOR_SCORE,
    PRIOR_SPEED,
    ResponseRecord,
    Responsiveness,
    round_score,
    score,
    speed_of,
)


def test_no_leads_gets_the_prior() -> None:
    # on_time_s = 0.7, expired_s = 0.15, speed_s = 0.5
    # 100 * (0.5 * 0.7 + 0.3 * 0.5 + 0.2 * 0.85) = 100 * (0.35 + 0.15 + 0.17) = 67.0
    assert score(ResponseRecord(0, 0, 0, None)) == Responsiveness(
        score=67.0,
        answered_on_time_share=0.0,
        median_response_hours=None,
        expired_share=0.0,
        leads_considered=0,
    )
    assert PRIOR_SCORE == 67.0
    # Any prior weight, none included: nothing to shrink, the prior stays.
    assert score(ResponseRecord(0, 0, 0, None), prior_weight=0).score == 67.0
    assert score(ResponseRecord(0, 0, 0, None), prior_weight=250).score == 67.0


def test_a_mixed_record() -> None:
    # 10 leads: 6 answered on time, 2 answered late, 2 expired; median answer 12 h.
    # on_time_s = (6 + 7) / 20 = 0.65
    # expired_s = (2 + 1.5) / 20 = 0.175
    # speed = 1 / (1 + 12/24) = 2/3; answered = 8; speed_s = (8 * 2/3 + 5) / 18 = 31/54
    # score = 100 * (0.325 + 0.3 * 31/54 + 0.2 * 0.825) = 100 * (0.325 + 0.172222 + 0.165)
    #       = 66.2222 -> 66.22
    record = ResponseRecord(leads=10, answered_on_time=6, expired=2, median_response_hours=12)
    result = score(record)
    assert result == Responsiveness(
        score=66.22,
        answered_on_time_share=0.6,
        median_response_hours=12,
        expired_share=0.2,
        leads_considered=10,
    )


def test_few_perfect_leads_score_lower_than_many() -> None:
    # 3 of 3 on time, median one day (speed 0.5):
    # on_time_s = (3 + 7) / 13 = 10/13; expired_s = 1.5 / 13; speed_s = (1.5 + 5) / 13 = 0.5
    # 100 * (5/13 + 0.15 + 0.2 * 11.5/13) = 100 * (7.3/13 + 0.15) = 71.1538 -> 71.15
    few = score(ResponseRecord(3, 3, 0, 24.0))
    # 300 of 300: on_time_s = 307/310; expired_s = 1.5/310; speed_s = 155/310 = 0.5
    # 100 * (153.5/310 + 0.15 + 61.7/310) = 100 * (215.2/310 + 0.15) = 84.4194 -> 84.42
    many = score(ResponseRecord(300, 300, 0, 24.0))
    assert (few.score, many.score) == (71.15, 84.42)
    # Both report the same raw record: everything on time, nothing expired.
    assert few.answered_on_time_share == many.answered_on_time_share == 1.0
    assert few.expired_share == many.expired_share == 0.0
    # The same share over ten times the leads lands closer to the unsmoothed value.
    assert score(ResponseRecord(3000, 3000, 0, 24.0)).score > many.score


def test_more_expired_lowers_the_score() -> None:
    # The mixed record without its 2 expired leads (answered late instead):
    # on_time_s = 0.65; expired_s = 1.5 / 20 = 0.075; speed_s = (10 * 2/3 + 5) / 20 = 7/12
    # 100 * (0.325 + 0.175 + 0.2 * 0.925) = 68.5
    none_expired = score(ResponseRecord(10, 6, 0, 12.0))
    two_expired = score(ResponseRecord(10, 6, 2, 12.0))
    four_expired = score(ResponseRecord(10, 6, 4, 12.0))
    assert none_expired.score == 68.5
    assert two_expired.score == 66.22
    assert none_expired.score > two_expired.score > four_expired.score


def test_a_faster_median_raises_the_score() -> None:
    # The mixed record answered in 2 h: speed = 24/26; speed_s = (8 * 24/26 + 5) / 18 = 0.688034
    # 100 * (0.325 + 0.3 * 0.688034 + 0.165) = 69.641 -> 69.64
    fast = score(ResponseRecord(10, 6, 2, 2.0))
    assert fast.score == 69.64
    slow = score(ResponseRecord(10, 6, 2, 72.0))
    assert fast.score > score(ResponseRecord(10, 6, 2, 12.0)).score > slow.score


def test_bounds() -> None:
    # 1000 leads all answered instantly: on_time_s = 1007/1010, expired_s = 1.5/1010,
    # speed_s = 1005/1010: 100 * (0.498515 + 0.298515 + 0.199703) = 99.6733 -> 99.67
    assert score(ResponseRecord(1000, 1000, 0, 0.0)).score == 99.67
    # 1000 leads all expired: on_time_s = 7/1010, expired_s = 1001.5/1010, nothing answered so
    # speed stays at the prior: 100 * (0.003465 + 0.15 + 0.001683) = 15.5149 -> 15.51
    worst = score(ResponseRecord(1000, 0, 1000, None))
    assert worst.score == 15.51
    assert (worst.answered_on_time_share, worst.expired_share) == (0.0, 1.0)
    assert worst.median_response_hours is None
    for record in [
        ResponseRecord(1, 0, 1, None),
        ResponseRecord(1, 1, 0, 0.0),
        ResponseRecord(5, 0, 0, 10_000.0),
    ]:
        assert 0 <= score(record).score <= 100


def test_prior_weight_zero_is_the_raw_record() -> None:
    # 4 leads: 2 on time, 1 late, 1 expired, median one day; no smoothing:
    # 100 * (0.5 * 0.5 + 0.3 * 0.5 + 0.2 * 0.75) = 55.0
    assert score(ResponseRecord(4, 2, 1, 24.0), prior_weight=0).score == 55.0
    # A heavier prior pulls the same record toward 67.
    light = score(ResponseRecord(4, 2, 1, 24.0), prior_weight=1).score
    heavy = score(ResponseRecord(4, 2, 1, 24.0), prior_weight=100).score
    assert 55.0 < light < heavy < 67.0


def test_speed() -> None:
    assert speed_of(0.0) == 1.0
    assert speed_of(24.0) == 0.5
    assert speed_of(72.0) == 0.25
    assert speed_of(None) == PRIOR_SPEED
    assert speed_of(-1.0) == 1.0  # a clock skew never makes speed exceed instant


def test_rounding_is_half_up_like_postgres() -> None:
    # Python's round() would give 72.12 (half to even); Postgres's round(numeric) 72.13.
    assert round_score(72.125) == 72.13
    assert round_score(66.22222222222223) == 66.22
    assert round_score(0.005) == 0.01


@pytest.mark.parametrize(
    "record",
    [
        ResponseRecord(-1, 0, 0, None),
        ResponseRecord(2, 0, 3, None),
        ResponseRecord(2, 2, 1, 1.0),  # 2 on time out of 1 answered
        ResponseRecord(2, -1, 0, 1.0),
    ],
)
def test_inconsistent_records_are_refused(record: ResponseRecord) -> None:
    with pytest.raises(ValueError):
        score(record)


def test_negative_prior_weight_is_refused() -> None:
    with pytest.raises(ValueError):
        score(ResponseRecord(1, 1, 0, 1.0), prior_weight=-1)
