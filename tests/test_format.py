"""Numbers in tables and pages (rehab_core._format): a value that rounds to zero carries no sign."""

from __future__ import annotations

import pytest

from rehab_core._format import fixed, signed


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (-0.001, 2, "0.00"),
        (0.001, 2, "0.00"),
        (0.0, 2, "0.00"),
        (-0.0, 2, "0.00"),
        (0.03, 2, "+0.03"),
        (-0.024, 2, "-0.02"),
        (-0.005, 2, "-0.01"),  # rounds away from zero (binary -0.005 is just below it)
        (-0.0004, 3, "0.000"),
        (0.0123, 3, "+0.012"),
    ],
)
def test_signed_never_prints_minus_zero(value, decimals, text):
    assert signed(value, decimals) == text


@pytest.mark.parametrize(
    ("value", "text"), [(-0.001, "0.00"), (-0.0, "0.00"), (-0.2, "-0.20"), (0.756, "0.76")]
)
def test_fixed_never_prints_minus_zero(value, text):
    assert fixed(value) == text


def test_paired_difference_rows_and_external_tables_print_no_minus_zero():
    """The shipped files hold '-0.00' from before this fix; rows built now never do."""
    from rehab_core.evaluation import external_tables

    summary = {
        "cohorts": ["seed1"],
        "rows": [],
        "comparisons": [
            {
                "comparison": "A − B",
                "summary": {"metrics": {"difference": {"mean": -0.001, "sd": 0.03}}},
                "per_cohort": {"seed1": {"difference": -0.002, "low": -0.09, "high": 0.0004}},
                "n_cohorts_above_zero": 0,
                "n_cohorts_below_zero": 0,
            }
        ],
    }
    (row,) = external_tables(summary)["comparisons"]
    assert row["Mean ± SD"] == "0.00 ± 0.03"
    assert row["seed1 (95% CI)"] == "0.00 (-0.09 to 0.00)"
