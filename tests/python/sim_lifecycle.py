"""A developer's TaskRouter script, unchanged but for the base URL, against `taskhook sim`:
set up a FIFO Workspace with a queue, a workflow and a worker; run a task through reservation,
accept and complete; read statistics, events and the worker's channel; tear everything down.

Run by tests/integration/sim_spec.rs with SIM_URL, SIM_ACCOUNT_SID and SIM_AUTH_TOKEN set.
"""

import json
import os
import sys
import time

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client


def main() -> None:
    client = Client(os.environ["SIM_ACCOUNT_SID"], os.environ["SIM_AUTH_TOKEN"])
    client.taskrouter.base_url = os.environ["SIM_URL"]
    taskrouter = client.taskrouter.v1

    # Setup.
    ws = taskrouter.workspaces.create(friendly_name="python setup", template="FIFO")
    workspace = taskrouter.workspaces(ws.sid)
    activities = {a.friendly_name: a.sid for a in workspace.activities.list()}
    assert {"Offline", "Available", "Unavailable"} <= set(activities), activities
    assert [q.friendly_name for q in workspace.task_queues.list()] == ["Sample Queue"]
    queue = workspace.task_queues.create(
        friendly_name="Support", target_workers='skills HAS "support"'
    )
    configuration = {
        "task_routing": {
            "filters": [
                {"expression": 'type == "support"', "targets": [{"queue": queue.sid}]}
            ]
        }
    }
    workflow = workspace.workflows.create(
        friendly_name="Support flow", configuration=json.dumps(configuration)
    )
    try:
        workspace.workflows.create(friendly_name="Broken", configuration="{not json")
        raise AssertionError("a broken Configuration was accepted")
    except TwilioRestException as error:
        assert error.status == 400, error
    worker = workspace.workers.create(
        friendly_name="Ada",
        attributes=json.dumps({"skills": ["support"]}),
        activity_sid=activities["Available"],
    )

    # Lifecycle.
    task = workspace.tasks.create(
        attributes=json.dumps({"type": "support"}), workflow_sid=workflow.sid
    )
    reservations = workspace.tasks(task.sid).reservations.list()
    assert [r.worker_sid for r in reservations] == [worker.sid], reservations
    reservation = (
        workspace.tasks(task.sid)
        .reservations(reservations[0].sid)
        .update(reservation_status="accepted")
    )
    assert reservation.reservation_status == "accepted", reservation.reservation_status
    task = workspace.tasks(task.sid).update(assignment_status="completed", reason="done")
    assert task.assignment_status == "completed", task.assignment_status

    # What TaskRouter reports about it.
    cumulative = workspace.cumulative_statistics().fetch()
    assert cumulative.tasks_completed == 1, cumulative.tasks_completed
    assert cumulative.reservations_accepted == 1, cumulative.reservations_accepted
    realtime = workspace.real_time_statistics().fetch()
    assert realtime.total_workers == 1, realtime.total_workers
    types = [e.event_type for e in workspace.events.list(task_sid=task.sid)]
    assert "task.completed" in types and "reservation.accepted" in types, types
    channel = workspace.workers(worker.sid).worker_channels("default").fetch()
    assert channel.configured_capacity == 1, channel.configured_capacity

    # Escalation: not accepted within its step's 1 s in Support, the task moves to Tier 2
    # and Ada's offer is rescinded.
    tier2 = workspace.task_queues.create(
        friendly_name="Tier 2", target_workers='skills HAS "tier2"'
    )
    grace = workspace.workers.create(
        friendly_name="Grace",
        attributes=json.dumps({"skills": ["tier2"]}),
        activity_sid=activities["Available"],
    )
    steps = [{"queue": queue.sid, "timeout": 1}, {"queue": tier2.sid}]
    escalating = workspace.workflows.create(
        friendly_name="Escalating",
        configuration=json.dumps(
            {"task_routing": {"filters": [{"expression": "1==1", "targets": steps}]}}
        ),
    )
    waiting = workspace.tasks(
        workspace.tasks.create(attributes="{}", workflow_sid=escalating.sid).sid
    )
    assert [r.worker_sid for r in waiting.reservations.list()] == [worker.sid]
    deadline = time.monotonic() + 5
    while waiting.fetch().task_queue_sid != tier2.sid:
        assert time.monotonic() < deadline, "the task never moved to Tier 2"
        time.sleep(0.1)
    rescinded = waiting.reservations.list(reservation_status="rescinded")
    assert [r.worker_sid for r in rescinded] == [worker.sid], rescinded
    offered = waiting.reservations.list(reservation_status="pending")
    assert [r.worker_sid for r in offered] == [grace.sid], offered
    types = [e.event_type for e in workspace.events.list(task_sid=waiting.fetch().sid)]
    assert "task-queue.moved" in types and "reservation.rescinded" in types, types
    assert waiting.update(assignment_status="canceled").assignment_status == "canceled"

    # Teardown.
    workspace.workers(worker.sid).delete()
    workspace.workers(grace.sid).delete()
    workspace.workflows(workflow.sid).delete()
    workspace.workflows(escalating.sid).delete()
    workspace.task_queues(queue.sid).delete()
    workspace.task_queues(tier2.sid).delete()
    workspace.delete()
    try:
        taskrouter.workspaces(ws.sid).fetch()
        raise AssertionError("the Workspace is still there")
    except TwilioRestException as error:
        assert error.status == 404, error
    print("twilio-python setup, lifecycle and teardown: ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"FAILED: {error!r}", file=sys.stderr)
        raise
