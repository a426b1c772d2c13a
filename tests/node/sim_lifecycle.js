// A developer's TaskRouter script in Node, unchanged but for the base URL, against
// `taskhook sim`: set up a FIFO Workspace with a queue, a workflow and a worker; run a task
// through reservation, accept and complete; read statistics and events; tear everything down.
//
// Run by tests/integration/sim_spec.rs with SIM_URL, SIM_ACCOUNT_SID and SIM_AUTH_TOKEN set.
"use strict";

const assert = require("node:assert/strict");
const twilio = require("twilio");

async function main() {
  const client = twilio(process.env.SIM_ACCOUNT_SID, process.env.SIM_AUTH_TOKEN);
  client.taskrouter.baseUrl = process.env.SIM_URL;
  const taskrouter = client.taskrouter.v1;

  // Setup.
  const ws = await taskrouter.workspaces.create({ friendlyName: "node setup", template: "FIFO" });
  const workspace = taskrouter.workspaces(ws.sid);
  const activities = Object.fromEntries(
    (await workspace.activities.list()).map((a) => [a.friendlyName, a.sid]),
  );
  for (const name of ["Offline", "Available", "Unavailable"]) {
    assert.ok(activities[name], `activity ${name} in ${JSON.stringify(activities)}`);
  }
  const queue = await workspace.taskQueues.create({
    friendlyName: "Support",
    targetWorkers: 'skills HAS "support"',
  });
  const configuration = {
    task_routing: {
      filters: [{ expression: 'type == "support"', targets: [{ queue: queue.sid }] }],
    },
  };
  const workflow = await workspace.workflows.create({
    friendlyName: "Support flow",
    configuration: JSON.stringify(configuration),
  });
  await assert.rejects(
    workspace.workflows.create({ friendlyName: "Broken", configuration: "{not json" }),
    (error) => error.status === 400,
  );
  const worker = await workspace.workers.create({
    friendlyName: "Ada",
    attributes: JSON.stringify({ skills: ["support"] }),
    activitySid: activities.Available,
  });

  // Lifecycle.
  let task = await workspace.tasks.create({
    attributes: JSON.stringify({ type: "support" }),
    workflowSid: workflow.sid,
  });
  const reservations = await workspace.tasks(task.sid).reservations.list();
  assert.deepEqual(
    reservations.map((r) => r.workerSid),
    [worker.sid],
  );
  const reservation = await workspace
    .tasks(task.sid)
    .reservations(reservations[0].sid)
    .update({ reservationStatus: "accepted" });
  assert.equal(reservation.reservationStatus, "accepted");
  task = await workspace.tasks(task.sid).update({ assignmentStatus: "completed", reason: "done" });
  assert.equal(task.assignmentStatus, "completed");

  // What TaskRouter reports about it.
  const cumulative = await workspace.cumulativeStatistics().fetch();
  assert.equal(cumulative.tasksCompleted, 1);
  assert.equal(cumulative.reservationsAccepted, 1);
  const realtime = await workspace.realTimeStatistics().fetch();
  assert.equal(realtime.totalWorkers, 1);
  const types = (await workspace.events.list({ taskSid: task.sid })).map((e) => e.eventType);
  assert.ok(types.includes("task.completed") && types.includes("reservation.accepted"), types);
  const channel = await workspace.workers(worker.sid).workerChannels("default").fetch();
  assert.equal(channel.configuredCapacity, 1);

  // Teardown.
  await workspace.workers(worker.sid).remove();
  await workspace.workflows(workflow.sid).remove();
  await workspace.taskQueues(queue.sid).remove();
  await workspace.remove();
  await assert.rejects(taskrouter.workspaces(ws.sid).fetch(), (error) => error.status === 404);
  console.log("twilio-node setup, lifecycle and teardown: ok");
}

main().catch((error) => {
  console.error(`FAILED: ${error.stack || error}`);
  process.exit(1);
});
