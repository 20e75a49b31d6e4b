"""The frontier with uncertainty and constraints: known answers for dominated, tied, infeasible and knee."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.config import Constraint
from harness.results.pareto import (
    classify,
    constraint_violations,
    describe_constraint,
    dominated_mask,
    knee_index,
    normalized,
    pick_best,
    tied_mask,
)

NAN = math.nan


def known_table() -> pd.DataFrame:
    """lat (min) and q (max) with 95% intervals; mem is only constrained.

    A, B, C form the feasible front (knee B). D is dominated by B on the point estimates, but its
    optimistic corner (lat 15, q 45) is not beaten by anyone's pessimistic corner: tied. E's optimistic
    corner (44, 31) is beaten by C's pessimistic one (41, 49): dominated. F breaks q >= 10 and G breaks
    mem <= 100 although G would dominate everything; H has no latency.
    """
    rows = [
        # name, lat, lat_lo, lat_hi, q, q_lo, q_hi, mem
        ("A", 10.0, 9.0, 11.0, 20.0, 18.0, 22.0, 50.0),
        ("B", 20.0, 19.0, 21.0, 40.0, 38.0, 42.0, 50.0),
        ("C", 40.0, 39.0, 41.0, 50.0, 49.0, 51.0, 50.0),
        ("D", 22.0, 15.0, 30.0, 38.0, 35.0, 45.0, 50.0),
        ("E", 45.0, 44.0, 46.0, 30.0, 29.0, 31.0, 50.0),
        ("F", 5.0, 4.0, 6.0, 5.0, 4.0, 6.0, 50.0),
        ("G", 8.0, 7.0, 9.0, 60.0, 59.0, 61.0, 500.0),
        ("H", NAN, NAN, NAN, 45.0, 44.0, 46.0, 50.0),
    ]
    df = pd.DataFrame(rows, columns=["model", "lat", "lat_lo", "lat_hi", "q", "q_lo", "q_hi", "mem"])
    df["modality"] = "image"
    return df


OBJ = {"lat": "min", "q": "max"}
CONSTRAINTS = [Constraint(metric="q", min=10), Constraint(metric="mem", max=100)]


def test_classify_known_answer():
    out = classify(known_table(), OBJ, CONSTRAINTS, group_by="modality").set_index("model")
    assert out["frontier_status"].to_dict() == {
        "A": "front",
        "B": "front",
        "C": "front",
        "D": "tied",
        "E": "dominated",
        "F": "infeasible",
        "G": "infeasible",
        "H": "incomplete",
    }
    assert out.index[out["on_front"]].tolist() == ["A", "B", "C"]
    assert out.index[out["tied"]].tolist() == ["D"]
    assert out.index[out["dominated"]].tolist() == ["E"]
    assert out.index[out["knee"]].tolist() == ["B"]
    assert out.index[~out["feasible"]].tolist() == ["F", "G"]
    assert out.loc["F", "violations"] == "q 5 < 10"
    assert out.loc["G", "violations"] == "mem 500 > 100"
    assert out.loc["H", "violations"] == ""  # no latency is "incomplete", not a broken constraint


def test_without_constraints_the_infeasible_point_dominates():
    out = classify(known_table(), OBJ).set_index("model")
    assert out.index[out["on_front"]].tolist() == ["F", "G"]
    # B is dominated by G for sure (G's worst corner 9, 59 beats B's best 19, 42), D too.
    assert out.loc["B", "frontier_status"] == "dominated" and out.loc["D", "frontier_status"] == "dominated"


def test_constraint_with_dicts_and_missing_column():
    df = known_table()
    got = constraint_violations(df, [{"metric": "q", "min": 10, "max": 55}, {"metric": "nope", "max": 1}])
    assert got[5] == "q 5 outside its window [10, 55]; nope has no value"
    assert got[6] == "q 60 outside its window [10, 55]; nope has no value"
    assert describe_constraint({"metric": "fid", "max": 20}) == "fid ≤ 20"
    assert describe_constraint(Constraint(metric="psnr", min=30)) == "psnr ≥ 30"
    assert describe_constraint({"metric": "fid", "min": 1, "max": 2}) == "1 ≤ fid ≤ 2"


def test_tied_mask_definition():
    v = np.array([[10.0, 1.0], [11.0, 1.0]])  # row 1 dominated (slower, same quality)
    zero = np.full_like(v, np.nan)
    assert tied_mask(v, zero, zero, ["min", "max"]).tolist() == [False, False]  # no intervals: no ties
    lo = np.array([[9.0, NAN], [10.5, NAN]])
    hi = np.array([[10.4, NAN], [12.0, NAN]])
    # Row 1's best latency 10.5 is worse than row 0's worst 10.4: dominated for sure.
    assert tied_mask(v, lo, hi, ["min", "max"]).tolist() == [False, False]
    hi[0, 0] = 10.5  # now row 0's worst equals row 1's best, and quality is equal: no strict win anywhere
    assert tied_mask(v, lo, hi, ["min", "max"]).tolist() == [False, True]
    # Front rows are never tied; NaN rows neither.
    v2 = np.vstack([v, [[NAN, 5.0]]])
    lo2, hi2 = np.vstack([lo, [[NAN, NAN]]]), np.vstack([hi, [[NAN, NAN]]])
    assert tied_mask(v2, lo2, hi2, ["min", "max"]).tolist() == [False, True, False]
    assert dominated_mask(v2, ["min", "max"]).tolist() == [False, True, True]


def test_knee_two_d_is_farthest_from_the_extremes_line():
    # Normalised: (0, 1), (0.25, 0.25), (0.5, 0.1), (1, 0): sums 1, 0.5, 0.6, 1.
    v = np.array([[0.0, 10.0], [1.0, 2.5], [2.0, 1.0], [4.0, 0.0]])
    assert knee_index(v, ["min", "min"]) == 1
    # Same front with the second objective maximised (negated values): same knee.
    assert knee_index(v * [1, -1], ["min", "max"]) == 1
    # Straight, concave or too small fronts have no knee.
    assert knee_index(np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]), ["min", "min"]) is None
    assert knee_index(np.array([[0.0, 1.0], [0.8, 0.8], [1.0, 0.0]]), ["min", "min"]) is None
    assert knee_index(np.array([[0.0, 1.0], [1.0, 0.0]]), ["min", "min"]) is None


def test_knee_n_d_smallest_sum_of_normalised_objectives():
    v = np.array(
        [
            [0.0, 10.0, 10.0],
            [10.0, 0.0, 10.0],
            [10.0, 10.0, 0.0],
            [4.0, 3.0, 5.0],  # normalised sum 1.2
            [2.0, 6.0, 3.0],  # 1.1: the knee (the extremes score 2)
        ]
    )
    assert knee_index(v, ["min", "min", "min"]) == 4
    # An objective equal on every row says nothing: the knee is that of the other two.
    flat = np.array([[0.0, 10.0, 7.0], [1.0, 2.5, 7.0], [2.0, 1.0, 7.0], [4.0, 0.0, 7.0]])
    assert knee_index(flat, ["min", "min", "max"]) == 1
    # A row better than every extreme is needed: here the middle row scores 2 like the extremes.
    assert knee_index([*v[:3].tolist(), [5.0, 5.0, 10.0]], ["min"] * 3) is None


def test_normalized_places_infinity_one_span_beyond():
    got = normalized(np.array([[math.inf], [30.0], [20.0]]), ["max"])
    assert got[:, 0].tolist() == [0.0, 0.5, 1.0]
    assert normalized(np.array([[3.0], [3.0]]), ["min"])[:, 0].tolist() == [0.0, 0.0]


def test_pick_best():
    df = known_table()
    assert df.loc[pick_best(df, "lat", "min"), "model"] == "F"
    feasible = classify(df, OBJ, CONSTRAINTS)["feasible"]
    assert df.loc[pick_best(df, "lat", "min", feasible), "model"] == "A"
    assert pick_best(df, "lat", "min", pd.Series(False, index=df.index)) is None
    assert pick_best(df, "missing", "min") is None


def test_classify_groups_and_empty():
    df = known_table()
    df.loc[[2, 3], "modality"] = "audio"  # C and D compete only with each other
    out = classify(df, OBJ, CONSTRAINTS, group_by="modality").set_index("model")
    assert out.loc["C", "frontier_status"] == "front" and out.loc["D", "frontier_status"] == "front"
    assert out.loc["E", "frontier_status"] == "dominated"  # by B now (20 < 45, 40 > 30, for sure)
    empty = classify(df.iloc[0:0], OBJ, CONSTRAINTS, group_by="modality")
    assert empty.empty and "frontier_status" in empty.columns


def test_objectives_a_modality_lacks_do_not_empty_its_front():
    """A suite over several modalities: fd_digits applies to images only, fad_notes to audio only."""
    import pandas as pd

    from harness.results.pareto import classify

    df = pd.DataFrame(
        {
            "modality": ["image", "image", "audio", "audio"],
            "lat": [1.0, 2.0, 1.0, 2.0],
            "fd_digits": [20.0, 10.0, float("nan"), float("nan")],
            "fad_notes": [float("nan"), float("nan"), 5.0, 9.0],
        }
    )
    out = classify(df, {"lat": "min", "fd_digits": "min", "fad_notes": "min"}, group_by="modality")
    assert out["frontier_status"].tolist() == ["front", "front", "front", "dominated"]
