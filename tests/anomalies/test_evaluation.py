"""The z-score rule on plain numbers (contract §13.2 steps 2-5): no database, no app.

Most boundaries use the baseline 9, 11, 9, 11, 10, whose mean (10) and sample standard deviation (1)
are exact in float64, so with z = 2 the band is exactly 8 to 12.
"""

import math

import pytest

from watcher_server.anomalies.evaluation import (
    Anomaly,
    Execution,
    Rule,
    Season,
    Skipped,
    Verdict,
    evaluate,
    evaluate_rules,
    season_of,
)

EXACT = [9.0, 11.0, 9.0, 11.0, 10.0]
CONTRACT = [20.0, 22.0, 24.0, 26.0, 28.0]
FLAT = [7.0] * 5
ABOVE_12 = math.nextafter(12.0, math.inf)
BELOW_8 = math.nextafter(8.0, -math.inf)


def _rule(rule_id=1, metric="total_rows", minimum=5, direction="both", seasonality="hour_of_day", z=2.0) -> Rule:
    return Rule(rule_id, metric, z, 30, minimum, direction, seasonality)


def _execution(hour=10, weekday=2, **values) -> Execution:
    return Execution(values, hour, weekday)


def test_mean_is_the_arithmetic_mean_of_the_baseline():
    assert evaluate(500.0, CONTRACT, 2.0, "both").mean == 24.0


def test_sd_is_the_sample_standard_deviation():
    sd = evaluate(500.0, CONTRACT, 2.0, "both").sd
    assert sd == pytest.approx(math.sqrt(10), rel=1e-15)  # divisor n - 1
    assert sd != pytest.approx(math.sqrt(8))  # not the population deviation (divisor n)


def test_the_band_is_mean_minus_and_plus_z_times_sd():
    verdict = evaluate(500.0, CONTRACT, 2.0, "both")
    assert verdict.lower == pytest.approx(24 - 2 * math.sqrt(10), rel=1e-15)
    assert verdict.upper == pytest.approx(24 + 2 * math.sqrt(10), rel=1e-15)


def test_z_score_is_the_distance_from_the_mean_in_sds():
    assert evaluate(500.0, CONTRACT, 2.0, "both").z_score == pytest.approx((500 - 24) / math.sqrt(10), rel=1e-15)


def test_contract_example_is_a_spike_with_its_numbers():
    verdict = evaluate(500.0, CONTRACT, 2.0, "both")
    assert verdict.kind == "spike"
    assert verdict.z_score == pytest.approx(150.5, abs=0.1)
    assert (verdict.lower, verdict.upper) == (pytest.approx(17.68, abs=0.01), pytest.approx(30.32, abs=0.01))


def test_the_lower_band_never_goes_below_zero():
    verdict = evaluate(100.0, [1.0, 1.0, 1.0, 1.0, 21.0], 1.0, "both")  # mean 5, sd ≈ 8.94
    assert verdict.kind == "spike" and verdict.lower == 0.0


def test_zero_under_a_band_clamped_at_zero_is_not_a_drop():
    assert evaluate(0.0, [1.0, 1.0, 1.0, 1.0, 21.0], 1.0, "both") is None


def test_the_exact_baseline_has_the_band_8_to_12():
    verdict = evaluate(ABOVE_12, EXACT, 2.0, "both")
    assert (verdict.mean, verdict.sd, verdict.lower, verdict.upper) == (10.0, 1.0, 8.0, 12.0)


@pytest.mark.parametrize("value", [12.0, 8.0, 10.0, 11.5])
def test_a_value_on_or_inside_the_band_is_not_anomalous(value):
    assert evaluate(value, EXACT, 2.0, "both") is None


def test_a_value_just_above_the_upper_band_is_a_spike():
    verdict = evaluate(ABOVE_12, EXACT, 2.0, "both")
    assert (verdict.kind, verdict.z_score) == ("spike", pytest.approx(2.0))


def test_a_value_just_below_the_lower_band_is_a_drop():
    verdict = evaluate(BELOW_8, EXACT, 2.0, "both")
    assert (verdict.kind, verdict.z_score) == ("drop", pytest.approx(-2.0))


def test_the_band_widens_with_z():
    assert evaluate(12.5, EXACT, 2.0, "both").kind == "spike"
    assert evaluate(12.5, EXACT, 3.0, "both") is None
    assert evaluate(13.0, EXACT, 3.0, "both") is None  # on the band 7 to 13
    assert evaluate(math.nextafter(13.0, math.inf), EXACT, 3.0, "both").kind == "spike"


@pytest.mark.parametrize(
    ("value", "direction", "kind"),
    [
        (20.0, "both", "spike"),
        (20.0, "spike", "spike"),
        (20.0, "drop", None),
        (1.0, "both", "drop"),
        (1.0, "drop", "drop"),
        (1.0, "spike", None),
    ],
)
def test_direction_filters_what_fires(value, direction, kind):
    verdict = evaluate(value, EXACT, 2.0, direction)
    assert (verdict and verdict.kind) == kind


def test_a_zero_spread_baseline_has_its_mean_as_both_bands_and_no_z_score():
    verdict = evaluate(8.0, FLAT, 2.0, "both")
    assert verdict == Verdict(kind="spike", mean=7.0, sd=0.0, lower=7.0, upper=7.0, z_score=None)


def test_a_zero_spread_baseline_flags_any_different_value():
    assert evaluate(math.nextafter(7.0, math.inf), FLAT, 10.0, "both").kind == "spike"
    assert evaluate(math.nextafter(7.0, -math.inf), FLAT, 10.0, "both").kind == "drop"


def test_a_zero_spread_baseline_does_not_flag_its_own_value():
    assert evaluate(7.0, FLAT, 2.0, "both") is None


def test_direction_filters_a_zero_spread_baseline_too():
    assert evaluate(8.0, FLAT, 2.0, "drop") is None
    assert evaluate(6.0, FLAT, 2.0, "spike") is None


def test_values_up_to_2_to_the_63_do_not_overflow():
    baseline = [2.0**62] * 4 + [2.0**62 + 2.0**40]
    verdict = evaluate(2.0**63, baseline, 3.0, "both")
    assert verdict.kind == "spike" and math.isfinite(verdict.z_score)


def test_hour_of_day_draws_the_baseline_from_the_same_hour():
    assert season_of("hour_of_day", 10, 2) == Season("hour_recorded", 10)


def test_day_of_week_draws_the_baseline_from_the_same_weekday():
    assert season_of("day_of_week", 10, 2) == Season("weekday_recorded", 2)


def test_no_seasonality_draws_the_baseline_from_every_execution():
    assert season_of("none", 10, 2) is None


@pytest.mark.parametrize(("seasonality", "season_value"), [("hour_of_day", 10), ("day_of_week", 2), ("none", None)])
def test_an_anomaly_records_the_season_it_was_measured_in(seasonality, season_value):
    rule = _rule(seasonality=seasonality)
    [anomaly] = evaluate_rules(_execution(hour=10, weekday=2, total_rows=500.0), [rule], {1: CONTRACT}).anomalies
    assert anomaly.season_value == season_value


def test_a_fired_rule_gives_an_anomaly_with_its_rule_value_verdict_and_baseline_size():
    rule = _rule()
    evaluation = evaluate_rules(_execution(total_rows=500.0), [rule], {1: CONTRACT})
    assert evaluation.anomalies == (Anomaly(rule, 500.0, evaluate(500.0, CONTRACT, 2.0, "both"), 5, 10),)
    assert evaluation.skipped == ()


def test_a_rule_inside_its_band_gives_neither_an_anomaly_nor_a_skip():
    evaluation = evaluate_rules(_execution(total_rows=25.0), [_rule()], {1: CONTRACT})
    assert (evaluation.anomalies, evaluation.skipped) == ((), ())


def test_fewer_baseline_values_than_minimum_executions_skip_the_rule():
    evaluation = evaluate_rules(_execution(total_rows=500.0), [_rule(minimum=6)], {1: CONTRACT})
    assert evaluation.skipped == (Skipped(1, "total_rows", "insufficient_history"),)
    assert evaluation.anomalies == ()


def test_exactly_minimum_executions_baseline_values_are_enough():
    [anomaly] = evaluate_rules(_execution(total_rows=500.0), [_rule(minimum=5)], {1: CONTRACT}).anomalies
    assert anomaly.execution_count == 5


def test_a_missing_value_skips_the_rule_before_its_history_is_looked_at():
    evaluation = evaluate_rules(_execution(total_rows=None), [_rule()], {})  # no baseline needed
    assert evaluation.skipped == (Skipped(1, "total_rows", "no_value"),)
    assert evaluation.anomalies == ()


def test_a_metric_absent_from_the_values_counts_as_missing():
    assert evaluate_rules(_execution(), [_rule(metric="inserts")], {}).skipped == (Skipped(1, "inserts", "no_value"),)


def test_anomalies_and_skipped_rules_keep_the_order_of_the_rules():
    rules = [
        _rule(1, "updates"),
        _rule(2, "total_rows"),
        _rule(3, "inserts", minimum=6),
        _rule(4, "throughput"),
        _rule(5, "duration_seconds"),
    ]
    execution = _execution(total_rows=500.0, inserts=500.0, throughput=1.0, duration_seconds=500.0)
    evaluation = evaluate_rules(execution, rules, {2: CONTRACT, 3: CONTRACT, 4: CONTRACT, 5: CONTRACT})
    assert [a.rule.id for a in evaluation.anomalies] == [2, 4, 5]
    assert [(s.rule_id, s.reason) for s in evaluation.skipped] == [(1, "no_value"), (3, "insufficient_history")]
