"""Row counts and times stay right whichever order a run's events come in."""

from .support import at, dataset_out, execution_of, new_run_id, run_event, send, shown


async def test_row_counts_and_times_are_right_whatever_the_order_of_start_and_complete(client):
    outputs = [dataset_out("postgres://db:5432", "a.b.c", rows=7)]

    in_order = new_run_id()
    await send(client, run_event("START", at(0), in_order))
    await send(client, run_event("COMPLETE", at(1), in_order, outputs=outputs))
    ended = await execution_of(client, in_order)
    assert (ended["total_rows"], ended["duration_seconds"], ended["throughput"]) == (7, 60, 0.1167)

    complete_first = new_run_id()
    await send(client, run_event("COMPLETE", at(5), complete_first, outputs=outputs))
    await send(client, run_event("START", at(0), complete_first))
    ended = await execution_of(client, complete_first)
    assert (ended["start_date"], ended["end_date"], ended["total_rows"], ended["duration_seconds"]) == (shown(at(0)), shown(at(5)), 7, 300)

    skewed = new_run_id()  # the producer's clock put the COMPLETE before the START
    await send(client, run_event("START", at(10), skewed))
    await send(client, run_event("COMPLETE", at(9), skewed, outputs=outputs))
    ended = await execution_of(client, skewed)
    assert (ended["end_date"], ended["total_rows"], ended["completed_successfully"]) == (shown(at(9)), 7, True)
    assert ended["start_date"] < ended["end_date"]
