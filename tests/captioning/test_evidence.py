"""Each acceptance rule of DESIGN.md section 5 on crafted residuals."""

from __future__ import annotations

from codecvdc_assets.captioning.evidence import Residual, accept
from codecvdc_assets.captioning.windows import windows


def res(
    i: int,
    change: str,
    subject: str = "red car",
    direction: str = "none",
    caption: str | None = None,
    zone_from: str = "center",
    zone_to: str = "center",
) -> Residual:
    text = caption or f"The {subject} moves {direction}." if change != "none" else "No visible change."
    return Residual(i, float(i), float(i + 1), text, change, subject, zone_from, zone_to, direction)


def motion(events):
    return [(e.direction, e.support, e.accepted, e.rule) for e in events if e.change_type in ("continuous", "camera")]


def test_continuous_seen_once_is_rejected_twice_is_accepted() -> None:
    once = accept(0, [res(0, "continuous", direction="right"), res(1, "none")])
    assert motion(once) == [("right", 1, False, "continuous")]
    assert "only one residual" in once[0].reason
    twice = accept(0, [res(0, "continuous", direction="right"), res(1, "continuous", direction="right")])
    assert motion(twice) == [("right", 2, True, "continuous")]
    assert (twice[0].t_start_s, twice[0].t_end_s) == (0.0, 2.0)
    # Two claims with a `none` between them are not consecutive.
    gap = accept(0, [res(0, "continuous", direction="right"), res(1, "none"), res(2, "continuous", direction="right")])
    assert [e.accepted for e in gap] == [False, False]


def test_camera_motion_follows_the_continuous_rule() -> None:
    events = accept(0, [res(i, "camera", "camera", "left") for i in range(3)])
    assert motion(events) == [("left", 3, True, "continuous")]


def test_discrete_event_is_accepted_from_one_residual() -> None:
    events = accept(
        0,
        [
            res(0, "none"),
            res(1, "discrete", "dog", caption="A dog appears.", zone_from="none", zone_to="lower-left"),
            res(2, "none"),
        ],
    )
    assert [(e.change_type, e.support, e.accepted) for e in events] == [("discrete", 1, True)]
    # Appears and disappears again right away: a transient, both rejected.
    flicker = accept(
        0,
        [
            res(0, "discrete", "dog", zone_from="none", zone_to="center"),
            res(1, "discrete", "dog", zone_from="center", zone_to="none"),
        ],
    )
    assert [e.accepted for e in flicker] == [False, False] and "transient" in flicker[0].reason


def test_anchor_attribute_stays_locked_unless_an_attribute_change_says_otherwise() -> None:
    anchor = [{"label": "car", "zone": "center", "attributes": ["red", "closed"]}]
    claims_blue = res(0, "continuous", "car", "right", caption="The blue car moves right.")
    events = accept(0, [claims_blue, res(1, "continuous", "car", "right")], anchor)
    locks = [e for e in events if e.rule == "attribute_lock"]
    assert {(e.event, e.accepted) for e in locks if e.accepted} == {
        ("car is red", True),
        ("car is closed", True),
    }
    rejected = [e for e in locks if not e.accepted]
    assert len(rejected) == 1 and "the anchor says colour red" in rejected[0].reason
    # An attribute change is accepted and replaces the locked value.
    changed = accept(0, [res(0, "attribute", "car", caption="The car turns blue.")], anchor)
    change = [e for e in changed if e.rule == "attribute"]
    assert len(change) == 1 and change[0].accepted and "colour now blue" in change[0].reason
    # After the change, "blue" no longer conflicts.
    later = accept(
        0,
        [
            res(0, "attribute", "car", caption="The car turns blue."),
            res(1, "continuous", "car", "right", caption="The blue car moves right."),
        ],
        anchor,
    )
    assert not [e for e in later if e.rule == "attribute_lock" and not e.accepted]


def test_left_right_contradiction_goes_to_more_support_and_a_tie_is_omitted() -> None:
    seq = ["left", "left", "right", "left"]  # right sits between lefts: a contradiction, 3 vs 1
    events = accept(0, [res(i, "continuous", direction=d) for i, d in enumerate(seq)])
    kept = [e for e in events if e.accepted]
    assert [(e.direction, e.support) for e in kept] == [("left", 3)]  # the contradicted pair is bridged
    lost = [e for e in events if e.rule == "contradiction"]
    assert [(e.direction, e.accepted) for e in lost] == [("right", False)] and "3 left vs 1 right" in lost[0].reason
    tie = accept(0, [res(i, "continuous", direction=d) for i, d in enumerate(["left", "right", "left", "right"])])
    assert not [e for e in tie if e.accepted] and all("unresolved contradiction" in e.reason for e in tie)


def test_a_reversal_is_not_a_contradiction() -> None:
    seq = ["left", "left", "right", "right"]
    events = accept(0, [res(i, "continuous", direction=d) for i, d in enumerate(seq)])
    assert motion(events) == [("left", 2, True, "continuous"), ("right", 2, True, "continuous")]


def test_windows_share_boundary_frames_and_caption_each_pair_once() -> None:
    w = windows(20, size=8, overlap=1)
    assert [(x.start, x.stop) for x in w] == [(0, 8), (7, 15), (14, 20)]
    pairs = [p for x in w for p in x.pairs]
    assert pairs == [(i, i + 1) for i in range(19)]
    w3 = windows(20, size=8, overlap=3)
    assert [p for x in w3 for p in x.pairs] == [(i, i + 1) for i in range(19)]
    assert w3[1].start == 5 and w3[1].pairs[0] == (7, 8)
    assert windows(1) == [] and [x.pairs for x in windows(2)] == [((0, 1),)]
