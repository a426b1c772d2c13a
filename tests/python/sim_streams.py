"""Event Streams against `taskhook sim` with twilio-python, changed only in its base URLs:
make a webhook sink and a subscription to TaskRouter types, read them back (SubscribedEvents,
Types, the InUse filter), then delete both — what `serve --connect --events streams` does.

Run by tests/integration/streams.rs with SIM_URL, SIM_ACCOUNT_SID, SIM_AUTH_TOKEN and
SINK_URL set. Prints the sink and subscription SIDs.
"""

import os

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client


def main() -> None:
    client = Client(os.environ["SIM_ACCOUNT_SID"], os.environ["SIM_AUTH_TOKEN"])
    client.taskrouter.base_url = os.environ["SIM_URL"]
    client.events.base_url = os.environ["SIM_URL"]
    events = client.events.v1

    types = [t.type for t in events.event_types.list(schema_id="TaskRouter.WDSEvent")]
    assert "com.twilio.taskrouter.reservation.accepted" in types, types

    sink = events.sinks.create(
        description="python sink",
        sink_configuration={"destination": os.environ["SINK_URL"], "method": "POST", "batch_events": True},
        sink_type="webhook",
    )
    assert sink.sid.startswith("DG") and sink.status == "active", sink
    assert sink.sink_configuration["destination"] == os.environ["SINK_URL"]
    wanted = ["com.twilio.taskrouter.task.created", "com.twilio.taskrouter.reservation.accepted"]
    sub = events.subscriptions.create(
        description="python subscription",
        sink_sid=sink.sid,
        types=[{"type": t, "schema_version": 1} for t in wanted],
    )
    assert sub.sink_sid == sink.sid
    got = [e.type for e in events.subscriptions(sub.sid).subscribed_events.list()]
    assert got == wanted, got
    events.subscriptions(sub.sid).subscribed_events.create(type="com.twilio.taskrouter.task.completed")
    assert len(events.subscriptions(sub.sid).subscribed_events.list()) == 3
    assert [s.sid for s in events.sinks.list(in_use=True)] == [sink.sid]
    assert events.sinks(sink.sid).update(description="renamed").description == "renamed"
    assert [s.sid for s in events.subscriptions.list(sink_sid=sink.sid)] == [sub.sid]

    try:
        events.sinks(sink.sid).delete()
        raise AssertionError("a sink in use was deleted")
    except TwilioRestException as e:
        assert e.status == 400, e
    assert events.subscriptions(sub.sid).delete()
    assert events.sinks(sink.sid).delete()
    try:
        events.sinks(sink.sid).fetch()
        raise AssertionError("deleted sink still there")
    except TwilioRestException as e:
        assert e.status == 404, e
    assert events.sinks.list() == []
    print("ok", sink.sid, sub.sid)


if __name__ == "__main__":
    main()
