//! The JSON the sim answers with: TaskRouter's field names and shapes (reference §3.4, §3.5 and
//! the twilio-python instance classes), absolute `url`s and `links` under the sim's base URL,
//! ISO 8601 dates, `attributes` as JSON strings, and list envelopes with `meta`.

use serde_json::{Value, json};

use super::state::{
    Activity, Event, Reservation, State, Task, TaskChannel, TaskQueue, Worker, WorkerChannel,
    Workflow, age, iso, whole_seconds,
};

/// How a reservation was reached; its `url` follows the path used (reference §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Task,
    Worker,
}

pub struct Render<'a> {
    pub state: &'a State,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: &'a str,
}

impl Render<'_> {
    fn ws_url(&self) -> String {
        format!("{}/v1/Workspaces/{}", self.base, self.state.workspace.sid)
    }

    fn activity_name(&self, sid: Option<&str>) -> Value {
        match sid.and_then(|s| self.state.activity(s)) {
            Some(a) => Value::String(a.friendly_name.clone()),
            None => Value::Null,
        }
    }

    pub fn workspace(&self) -> Value {
        let ws = &self.state.workspace;
        let url = self.ws_url();
        let link = |p: &str| format!("{url}/{p}");
        json!({
            "account_sid": self.state.account_sid,
            "date_created": iso(ws.created),
            "date_updated": iso(ws.updated),
            "default_activity_name": self.activity_name(Some(&ws.default_activity_sid)),
            "default_activity_sid": ws.default_activity_sid,
            "event_callback_url": ws.event_callback_url,
            "events_filter": ws.events_filter,
            "friendly_name": ws.friendly_name,
            "multi_task_enabled": false,
            "prioritize_queue_order": "FIFO",
            "sid": ws.sid,
            "timeout_activity_name": self.activity_name(Some(&ws.timeout_activity_sid)),
            "timeout_activity_sid": ws.timeout_activity_sid,
            "url": url,
            "links": {
                "activities": link("Activities"),
                "cumulative_statistics": link("CumulativeStatistics"),
                "events": link("Events"),
                "real_time_statistics": link("RealTimeStatistics"),
                "statistics": link("Statistics"),
                "task_channels": link("TaskChannels"),
                "task_queues": link("TaskQueues"),
                "tasks": link("Tasks"),
                "workers": link("Workers"),
                "workflows": link("Workflows"),
            }
        })
    }

    pub fn activity(&self, activity: &Activity) -> Value {
        json!({
            "account_sid": self.state.account_sid,
            "available": activity.available,
            "date_created": iso(activity.created),
            "date_updated": iso(activity.updated),
            "friendly_name": activity.friendly_name,
            "sid": activity.sid,
            "workspace_sid": self.state.workspace.sid,
            "url": format!("{}/Activities/{}", self.ws_url(), activity.sid),
            "links": {"workspace": self.ws_url()}
        })
    }

    pub fn channel(&self, channel: &TaskChannel) -> Value {
        json!({
            "account_sid": self.state.account_sid,
            "channel_optimized_routing": channel.channel_optimized_routing,
            "date_created": iso(channel.created),
            "date_updated": iso(channel.updated),
            "friendly_name": channel.friendly_name,
            "sid": channel.sid,
            "unique_name": channel.unique_name,
            "workspace_sid": self.state.workspace.sid,
            "url": format!("{}/TaskChannels/{}", self.ws_url(), channel.sid),
            "links": {"workspace": self.ws_url()}
        })
    }

    pub fn worker(&self, worker: &Worker) -> Value {
        let url = format!("{}/Workers/{}", self.ws_url(), worker.sid);
        json!({
            "account_sid": self.state.account_sid,
            "activity_name": self.activity_name(Some(&worker.activity_sid)),
            "activity_sid": worker.activity_sid,
            "attributes": worker.attributes,
            "available": self.state.worker_available(worker),
            "date_created": iso(worker.created),
            "date_status_changed": iso(worker.status_changed),
            "date_updated": iso(worker.updated),
            "friendly_name": worker.friendly_name,
            "sid": worker.sid,
            "workspace_sid": self.state.workspace.sid,
            "url": url,
            "links": {
                "activity": format!("{}/Activities/{}", self.ws_url(), worker.activity_sid),
                "channels": format!("{url}/Channels"),
                "cumulative_statistics": format!("{url}/CumulativeStatistics"),
                "real_time_statistics": format!("{url}/RealTimeStatistics"),
                "reservations": format!("{url}/Reservations"),
                "statistics": format!("{url}/Statistics"),
                "worker_channels": format!("{url}/Channels"),
                "worker_statistics": format!("{url}/Statistics"),
                "workspace": self.ws_url(),
            }
        })
    }

    pub fn queue(&self, queue: &TaskQueue) -> Value {
        let url = format!("{}/TaskQueues/{}", self.ws_url(), queue.sid);
        let activity_url = |sid: &Option<String>| {
            sid.as_ref()
                .map(|s| format!("{}/Activities/{s}", self.ws_url()))
        };
        json!({
            "account_sid": self.state.account_sid,
            "assignment_activity_name": self.activity_name(queue.assignment_activity_sid.as_deref()),
            "assignment_activity_sid": queue.assignment_activity_sid,
            "date_created": iso(queue.created),
            "date_updated": iso(queue.updated),
            "friendly_name": queue.friendly_name,
            "max_reserved_workers": queue.max_reserved_workers,
            "reservation_activity_name": self.activity_name(queue.reservation_activity_sid.as_deref()),
            "reservation_activity_sid": queue.reservation_activity_sid,
            "sid": queue.sid,
            "target_workers": queue.target.source(),
            "task_order": queue.task_order,
            "url": url,
            "workspace_sid": self.state.workspace.sid,
            "links": {
                "assignment_activity": activity_url(&queue.assignment_activity_sid),
                "bulk_real_time_statistics": format!("{}/TaskQueues/RealTimeStatistics", self.ws_url()),
                "cumulative_statistics": format!("{url}/CumulativeStatistics"),
                "list_statistics": format!("{}/TaskQueues/Statistics", self.ws_url()),
                "real_time_statistics": format!("{url}/RealTimeStatistics"),
                "reservation_activity": activity_url(&queue.reservation_activity_sid),
                "statistics": format!("{url}/Statistics"),
                "workspace": self.ws_url(),
            }
        })
    }

    pub fn workflow(&self, workflow: &Workflow) -> Value {
        let url = format!("{}/Workflows/{}", self.ws_url(), workflow.sid);
        json!({
            "account_sid": self.state.account_sid,
            "assignment_callback_url": workflow.assignment_callback_url,
            "configuration": workflow.configuration,
            "date_created": iso(workflow.created),
            "date_updated": iso(workflow.updated),
            "document_content_type": "application/json",
            "fallback_assignment_callback_url": workflow.fallback_assignment_callback_url,
            "friendly_name": workflow.friendly_name,
            "sid": workflow.sid,
            "task_reservation_timeout": whole_seconds(workflow.reservation_timeout),
            "workspace_sid": self.state.workspace.sid,
            "url": url,
            "links": {
                "cumulative_statistics": format!("{url}/CumulativeStatistics"),
                "real_time_statistics": format!("{url}/RealTimeStatistics"),
                "statistics": format!("{url}/Statistics"),
            }
        })
    }

    pub fn task(&self, task: &Task) -> Value {
        let url = format!("{}/Tasks/{}", self.ws_url(), task.sid);
        let queue = task.queue_sid.as_deref().and_then(|q| self.state.queue(q));
        let workflow = self.state.workflow(&task.workflow_sid);
        let channel = self.state.channel(&task.channel_sid);
        json!({
            "account_sid": self.state.account_sid,
            "addons": "{}",
            "age": age(task),
            "assignment_status": task.status.as_str(),
            "attributes": task.attributes,
            "date_created": iso(task.created),
            "date_updated": iso(task.updated),
            "ignore_capacity": task.ignore_capacity,
            "priority": task.priority,
            "reason": task.reason,
            "routing_target": task.routing_target,
            "sid": task.sid,
            "task_channel_sid": task.channel_sid,
            "task_channel_unique_name": channel.map(|c| c.unique_name.clone()),
            "task_queue_entered_date": task.queue_entered.map(iso),
            "task_queue_friendly_name": queue.map(|q| q.friendly_name.clone()),
            "task_queue_sid": task.queue_sid,
            "timeout": task.timeout,
            "virtual_start_time": iso(task.virtual_start),
            "workflow_friendly_name": workflow.map(|w| w.friendly_name.clone()),
            "workflow_sid": task.workflow_sid,
            "workspace_sid": self.state.workspace.sid,
            "url": url,
            "links": {
                "reservations": format!("{url}/Reservations"),
                "task_queue": task.queue_sid.as_ref().map(|q| format!("{}/TaskQueues/{q}", self.ws_url())),
                "workflow": format!("{}/Workflows/{}", self.ws_url(), task.workflow_sid),
                "workspace": self.ws_url(),
            }
        })
    }

    pub fn reservation(&self, reservation: &Reservation, via: Via) -> Value {
        let ws = self.ws_url();
        let url = match via {
            Via::Task => format!(
                "{ws}/Tasks/{}/Reservations/{}",
                reservation.task_sid, reservation.sid
            ),
            Via::Worker => format!(
                "{ws}/Workers/{}/Reservations/{}",
                reservation.worker_sid, reservation.sid
            ),
        };
        let worker_name = self
            .state
            .worker_index(&reservation.worker_sid)
            .map(|wi| self.state.workers[wi].friendly_name.clone());
        json!({
            "account_sid": self.state.account_sid,
            "date_created": iso(reservation.created),
            "date_updated": iso(reservation.updated),
            "reservation_status": reservation.status,
            "sid": reservation.sid,
            "task_sid": reservation.task_sid,
            "worker_name": worker_name,
            "worker_sid": reservation.worker_sid,
            "workspace_sid": self.state.workspace.sid,
            "url": url,
            "links": {
                "task": format!("{ws}/Tasks/{}", reservation.task_sid),
                "worker": format!("{ws}/Workers/{}", reservation.worker_sid),
                "workspace": ws,
            }
        })
    }
}

impl Render<'_> {
    pub fn worker_channel(&self, channel: &WorkerChannel<'_>) -> Value {
        // A channel with no capacity has none available (0 %), not a division by zero.
        let percentage = (channel.capacity.saturating_sub(channel.assigned) * 100)
            .checked_div(channel.capacity)
            .unwrap_or(0);
        json!({
            "account_sid": self.state.account_sid,
            "assigned_tasks": channel.assigned,
            "available": channel.available,
            "available_capacity_percentage": percentage,
            "configured_capacity": channel.capacity,
            "date_created": iso(channel.worker.created.max(channel.channel.created)),
            "date_updated": iso(channel.updated),
            "sid": channel.sid,
            "task_channel_sid": channel.channel.sid,
            "task_channel_unique_name": channel.channel.unique_name,
            "worker_sid": channel.worker.sid,
            "workspace_sid": self.state.workspace.sid,
            "url": format!("{}/Workers/{}/Channels/{}", self.ws_url(), channel.worker.sid, channel.sid),
        })
    }

    /// An Events resource entry (the twilio-python `EventInstance`): `event_data` holds the
    /// callback's own fields in snake_case, as TaskRouter's Events API shows them.
    pub fn event(&self, event: &Event) -> Value {
        let common = [
            "EventType",
            "AccountSid",
            "EventDescription",
            "ResourceType",
            "ResourceSid",
            "Timestamp",
            "TimestampMs",
            "Sid",
        ];
        let data: serde_json::Map<String, Value> = event
            .params
            .iter()
            .filter(|(k, _)| !common.contains(&k.as_str()))
            .map(|(k, v)| (snake_case(k), Value::String(v.clone())))
            .collect();
        let ws = self.ws_url();
        let resource_url = match event.resource_type.as_str() {
            "Task" => format!("{ws}/Tasks/{}", event.resource_sid),
            "Reservation" => {
                let task = event
                    .params
                    .iter()
                    .find(|(k, _)| k == "TaskSid")
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_default();
                format!("{ws}/Tasks/{task}/Reservations/{}", event.resource_sid)
            }
            "Worker" => format!("{ws}/Workers/{}", event.resource_sid),
            "Workflow" => format!("{ws}/Workflows/{}", event.resource_sid),
            "TaskQueue" => format!("{ws}/TaskQueues/{}", event.resource_sid),
            _ => ws.clone(),
        };
        json!({
            "account_sid": self.state.account_sid,
            // The sim itself causes every event (TaskRouter names the API caller when one did).
            "actor_sid": self.state.workspace.sid,
            "actor_type": "workspace",
            "actor_url": ws,
            "description": event.description,
            "event_data": data,
            "event_date": iso(event.at),
            "event_date_ms": (event.at.unix_timestamp_nanos() / 1_000_000) as i64,
            "event_type": event.event_type,
            "resource_sid": event.resource_sid,
            "resource_type": event.resource_type.to_ascii_lowercase(),
            "resource_url": resource_url,
            "sid": event.sid,
            "source": "twilio",
            "source_ip_address": "127.0.0.1",
            "url": format!("{ws}/Events/{}", event.sid),
            "workspace_sid": self.state.workspace.sid,
        })
    }
}

/// `TaskQueueSid` → `task_queue_sid`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Default and largest `PageSize` (reference §3.1).
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// A list answer: `{"<key>": [...], "meta": {...}}` for the page the query asks for.
/// `query` is the request's query string, parsed; paging parameters in it are replaced.
pub fn page(
    key: &str,
    items: Vec<Value>,
    base: &str,
    path: &str,
    query: &[(String, String)],
) -> Value {
    let first = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
    };
    let page_size = first("PageSize")
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let page = first("Page").unwrap_or(0);
    let filters: Vec<&(String, String)> = query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "PageSize" | "Page" | "PageToken"))
        .collect();
    let url_for = |page: usize| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &filters {
            query.append_pair(k, v);
        }
        query.append_pair("PageSize", &page_size.to_string());
        query.append_pair("Page", &page.to_string());
        format!("{base}{path}?{}", query.finish())
    };
    let start = page.saturating_mul(page_size);
    let total = items.len();
    let listed: Vec<Value> = items.into_iter().skip(start).take(page_size).collect();
    let has_next = start.saturating_add(page_size) < total;
    json!({
        key: listed,
        "meta": {
            "first_page_url": url_for(0),
            "key": key,
            "next_page_url": has_next.then(|| url_for(page.saturating_add(1))),
            "page": page,
            "page_size": page_size,
            "previous_page_url": (page > 0).then(|| url_for(page - 1)),
            "url": url_for(page),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_have_twilios_meta_and_keep_filters() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let query = vec![
            ("ReservationStatus".to_owned(), "pending".to_owned()),
            ("PageSize".to_owned(), "2".to_owned()),
            ("Page".to_owned(), "1".to_owned()),
        ];
        let body = page("reservations", items, "http://h:1", "/v1/X", &query);
        assert_eq!(body["reservations"], json!([2, 3]));
        let meta = &body["meta"];
        assert_eq!(meta["key"], "reservations");
        assert_eq!(meta["page"], 1);
        assert_eq!(meta["page_size"], 2);
        assert_eq!(
            meta["url"],
            "http://h:1/v1/X?ReservationStatus=pending&PageSize=2&Page=1"
        );
        assert_eq!(
            meta["next_page_url"],
            "http://h:1/v1/X?ReservationStatus=pending&PageSize=2&Page=2"
        );
        assert_eq!(
            meta["previous_page_url"],
            "http://h:1/v1/X?ReservationStatus=pending&PageSize=2&Page=0"
        );
        let last = page("k", vec![json!(1)], "b", "/p", &[]);
        assert_eq!(last["meta"]["next_page_url"], Value::Null);
        assert_eq!(last["meta"]["page_size"], 50);
        let huge = page(
            "k",
            vec![json!(1)],
            "b",
            "/p",
            &[("Page".into(), usize::MAX.to_string())],
        );
        assert_eq!(huge["k"], json!([]));
    }
}
