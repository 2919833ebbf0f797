"""The lineage graph's layout (web/lineage_layout.py): columns by distance, order, collapsing, edge paths."""

from __future__ import annotations

import re

from watcher_server.web.lineage_layout import (
    BOX_WIDTH,
    Item,
    Link,
    collapse,
    layout,
    more_key,
    per_column_budget,
)


def _boxes(drawn):
    return {box.key: box for box in drawn.boxes}


def _points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]


def test_an_empty_graph_has_no_boxes():
    drawn = layout([], [])
    assert (drawn.width, drawn.height, drawn.boxes, drawn.curves) == (0, 0, [], [])


def test_a_single_node_is_one_box():
    drawn = layout([Item("a1", 0, "orders")], [])
    [box] = drawn.boxes
    assert (box.key, box.label, box.column, box.more) == ("a1@0", "orders", 0, 0)
    assert drawn.width >= box.x + box.width and drawn.height >= box.y + box.height
    assert drawn.curves == []


def test_upstream_columns_are_left_of_the_centre_and_downstream_right():
    items = [Item("c", 0, "centre"), Item("u2", -2, "up2"), Item("u1", -1, "up1"), Item("d1", 1, "down1")]
    boxes = _boxes(layout(items, []))
    xs = [boxes[key].x for key in ("u2@-2", "u1@-1", "c@0", "d1@1")]
    assert xs == sorted(xs) and len(set(xs)) == 4


def test_a_column_is_ordered_by_label_whatever_the_input_order():
    items = [Item("c", 0, "centre"), Item("z", 1, "zeta"), Item("a", 1, "alpha"), Item("m", 1, "mu")]
    boxes = _boxes(layout(items, []))
    assert [key for key, _ in sorted(((k, b.y) for k, b in boxes.items() if b.column == 1), key=lambda kv: kv[1])] == ["a@1", "m@1", "z@1"]
    again = _boxes(layout(list(reversed(items)), []))
    assert {k: (b.x, b.y) for k, b in boxes.items()} == {k: (b.x, b.y) for k, b in again.items()}


def test_a_wide_column_is_cut_to_the_first_names_plus_one_more_box():
    items = [Item("c", 0, "centre")] + [Item(f"d{i}", 1, f"n{i:03d}") for i in range(100)]
    drawn = layout(items, [], per_column=25)
    column = [box for box in drawn.boxes if box.column == 1]
    assert len(column) == 26
    assert [box.label for box in column[:25]] == [f"n{i:03d}" for i in range(25)]
    more = column[-1]
    assert (more.key, more.item, more.more, more.label) == (more_key(1), None, 75, "75 more")
    assert [item.node for item in drawn.hidden[1]] == [f"d{i}" for i in range(25, 100)]


def test_columns_are_centred_on_each_other():
    items = [Item("c", 0, "centre")] + [Item(f"d{i}", 1, f"n{i}") for i in range(5)]
    boxes = _boxes(layout(items, []))
    column = [b for b in boxes.values() if b.column == 1]
    middle = (min(b.y for b in column) + max(b.y + b.height for b in column)) / 2
    assert boxes["c@0"].middle_y == middle


def test_an_edge_runs_from_the_right_side_of_its_source_to_the_left_side_of_its_target():
    drawn = layout([Item("s", -1, "s"), Item("t", 0, "t")], [Link("s", "t", "loader")])
    [curve] = drawn.curves
    boxes = _boxes(drawn)
    assert curve.d.startswith("M") and " C" in curve.d  # a cubic Bézier
    start, c1, c2, end = _points(curve.d)
    assert start == (boxes["s@-1"].x + BOX_WIDTH, boxes["s@-1"].middle_y)
    assert end == (boxes["t@0"].x, boxes["t@0"].middle_y)
    assert start[0] < c1[0] <= c2[0] < end[0]  # left to right
    assert curve.titles == ("loader",)


def test_edges_to_undrawn_nodes_go_to_the_more_box_once():
    items = [Item("c", 0, "centre")] + [Item(f"d{i}", 1, f"n{i:02d}") for i in range(10)]
    links = [Link("c", f"d{i}", "p") for i in range(10)]
    drawn = layout(items, links, per_column=3)
    targets = [curve.target for curve in drawn.curves]
    assert targets.count(more_key(1)) == 1
    assert sorted(t for t in targets if t != more_key(1)) == ["d0@1", "d1@1", "d2@1"]


def test_parallel_edges_of_several_pipelines_become_one_curve_with_every_title():
    drawn = layout([Item("s", -1, "s"), Item("t", 0, "t")], [Link("s", "t", "p1"), Link("s", "t", "p2"), Link("s", "t", "p1")])
    [curve] = drawn.curves
    assert curve.titles == ("p1", "p2")


def test_a_node_in_two_columns_is_linked_through_the_one_step_placements():
    # a cycle around c: x is both upstream (-1) and downstream (+1)
    items = [Item("c", 0, "c"), Item("x", -1, "x"), Item("x", 1, "x")]
    drawn = layout(items, [Link("x", "c", "back"), Link("c", "x", "forth")])
    assert sorted((curve.source, curve.target) for curve in drawn.curves) == [("c@0", "x@1"), ("x@-1", "c@0")]


def test_pinned_columns_choose_the_placement():
    items = [Item("c", 0, "c"), Item("x", -1, "x"), Item("x", 1, "x"), Item("y", 2, "y")]
    drawn = layout(items, [Link("x", "y", source_column=-1)])
    [curve] = drawn.curves
    assert (curve.source, curve.target) == ("x@-1", "y@2")


def test_edges_within_a_column_and_backwards_are_drawn_as_loops():
    items = [Item("a", 1, "a"), Item("b", 1, "b"), Item("c", 0, "c")]
    drawn = layout(items, [Link("a", "b"), Link("b", "c")])
    boxes = _boxes(drawn)
    within = next(curve for curve in drawn.curves if curve.target == "b@1")
    start, c1, _, end = _points(within.d)
    assert start[0] == end[0] == boxes["a@1"].x + BOX_WIDTH and c1[0] > start[0]
    back = next(curve for curve in drawn.curves if curve.target == "c@0")
    start, _, _, end = _points(back.d)
    assert start[0] == boxes["b@1"].x and end[0] == boxes["c@0"].x + BOX_WIDTH


def test_links_to_unknown_nodes_are_ignored_and_curves_are_capped():
    items = [Item("c", 0, "c")] + [Item(f"d{i}", 1, f"n{i:02d}") for i in range(20)]
    links = [Link("c", f"d{i}") for i in range(20)] + [Link("c", "nowhere")]
    drawn = layout(items, links, per_column=25, max_curves=5)
    assert len(drawn.curves) == 5 and drawn.curves_dropped == 15


def test_collapse_counts_a_repeated_item_once():
    shown, hidden = collapse([Item("a", 1, "a"), Item("a", 1, "a"), Item("b", 1, "b")], per_column=1)
    assert [i.node for i in shown[1]] == ["a"] and [i.node for i in hidden[1]] == ["b"]


def test_long_labels_are_shortened_in_the_box():
    drawn = layout([Item("a", 0, "x" * 150, "t" * 150)], [])
    [box] = drawn.boxes
    assert box.label.endswith("…") and len(box.label) < 40 and len(box.sublabel) < 40
    assert box.item.label == "x" * 150


def test_a_deep_graph_gets_fewer_boxes_per_column():
    assert per_column_budget(2) == 25
    assert per_column_budget(12) == 12
    assert per_column_budget(100) == 5
