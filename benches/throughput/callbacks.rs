//! Realistic TaskRouter callbacks for the benchmark: form bodies of about 1 KB with the
//! parameters TaskRouter sends (reference §1.2, §2), built once per (step, worker) as a
//! template whose SID, phone-number and timestamp slots are overwritten in place, so every
//! request carries unique SIDs without formatting a kilobyte of text per request.

use taskhook::wire::Header;

pub const ACCOUNT: &str = "AC4d2e8f1a9b7c6d5e3f2a1b0c9d8e7f6a";
pub const WORKSPACE: &str = "WS7e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b";
pub const WORKFLOW: &str = "WW2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e";
pub const QUEUE: &str = "WQ9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";
/// The number called; the callers vary.
pub const CALLED: &str = "+14155550100";
/// What TaskRouter's requests look like after an ngrok tunnel.
pub const HOST: &str = "taskhook-bench.ngrok.app";

/// Workers in the simulated workspace.
pub const WORKERS: usize = 50;
const NAMES: [&str; 10] = [
    "Alice", "Bruno", "Chiara", "Deepak", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
];

/// What each callback of a task's life is. A task produces one of each, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    TaskCreated,
    ReservationCreated,
    /// The Workflow's assignment callback (the load test sends only these).
    Assignment,
    ReservationAccepted,
    TaskWrapup,
    TaskCompleted,
}

pub const STEPS: [Step; 6] = [
    Step::TaskCreated,
    Step::ReservationCreated,
    Step::Assignment,
    Step::ReservationAccepted,
    Step::TaskWrapup,
    Step::TaskCompleted,
];

impl Step {
    pub fn path(self) -> &'static str {
        match self {
            Step::Assignment => "/assignment",
            _ => "/events",
        }
    }

    fn event(self) -> Option<(&'static str, &'static str, &'static str)> {
        Some(match self {
            Step::Assignment => return None,
            Step::TaskCreated => ("task.created", "Task created", "Task"),
            Step::ReservationCreated => {
                ("reservation.created", "Reservation created", "Reservation")
            }
            Step::ReservationAccepted => (
                "reservation.accepted",
                "Reservation accepted",
                "Reservation",
            ),
            Step::TaskWrapup => ("task.wrapup", "Task wrapping up", "Task"),
            Step::TaskCompleted => ("task.completed", "Task completed", "Task"),
        })
    }

    /// Whether this callback names the reservation.
    pub fn has_reservation(self) -> bool {
        matches!(
            self,
            Step::ReservationCreated | Step::Assignment | Step::ReservationAccepted
        )
    }

    /// Whether this callback names the worker.
    fn has_worker(self) -> bool {
        !matches!(self, Step::TaskCreated)
    }
}

pub fn worker_name(worker: usize) -> String {
    format!(
        "{} {}",
        NAMES[worker % NAMES.len()],
        worker / NAMES.len() + 1
    )
}

pub fn worker_sid(worker: usize) -> String {
    format!("WK{:032x}", mix(0x5eed_0000 + worker as u64) as u128)
}

/// splitmix64: a bijection, so distinct inputs give distinct SIDs.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What differs between two tasks' callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Task,
    Reservation,
    Call,
    Phone,
    Timestamp,
}

impl Slot {
    const ALL: [Slot; 5] = [
        Slot::Task,
        Slot::Reservation,
        Slot::Call,
        Slot::Phone,
        Slot::Timestamp,
    ];

    /// The placeholder written into the template: never occurs in real text.
    fn placeholder(self) -> String {
        match self {
            Slot::Task => "G".repeat(32),
            Slot::Reservation => "H".repeat(32),
            Slot::Call => "J".repeat(32),
            Slot::Phone => "P".repeat(7),
            Slot::Timestamp => "Q".repeat(10),
        }
    }
}

/// 32 lowercase hex digits derived from `task` and `salt`, unique per (task, salt).
fn hex32(task: u64, salt: u64, out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hi = mix(task.wrapping_mul(8).wrapping_add(salt));
    let lo = mix(hi ^ 0x6a09_e667_f3bc_c908);
    for (k, byte) in out[..32].iter_mut().enumerate() {
        let word = if k < 16 { hi } else { lo };
        *byte = HEX[((word >> (60 - 4 * (k % 16))) & 0xf) as usize];
    }
}

fn digits(mut value: u64, out: &mut [u8]) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The task's SIDs as strings (for queries against the seeded database).
pub fn task_sid(task: u64) -> String {
    let mut buf = [0u8; 32];
    hex32(task, 1, &mut buf);
    format!("WT{}", std::str::from_utf8(&buf).unwrap())
}

/// The caller's phone digits for `task` (7 digits after +1628); about 50,000 distinct callers.
pub fn caller(task: u64) -> String {
    format!("+1628{:07}", 5_550_000 + mix(task ^ 0xca11) % 50_000)
}

/// One callback shape with placeholders; [`Template::fill`] makes it a concrete request.
pub struct Template {
    pub step: Step,
    pub body: Vec<u8>,
    slots: Vec<(usize, Slot)>,
}

impl Template {
    pub fn new(step: Step, worker: usize) -> Self {
        let ph = |s: Slot| s.placeholder();
        let wk = worker_sid(worker);
        let name = worker_name(worker);
        let task_attributes = format!(
            r#"{{"from_country":"US","called":"{CALLED}","selected_language":"{lang}","to_country":"US","caller_country":"US","call_sid":"CA{call}","account_sid":"{ACCOUNT}","from":"+1628{phone}","direction":"inbound","caller_city":"OAKLAND","caller":"+1628{phone}","to":"{CALLED}","type":"inbound"}}"#,
            lang = if worker.is_multiple_of(3) { "es" } else { "en" },
            call = ph(Slot::Call),
            phone = ph(Slot::Phone),
        );
        let worker_attributes = format!(
            r#"{{"contact_uri":"client:{short}","full_name":"{name}","languages":["en","es"],"skills":["billing","support"]}}"#,
            short = name.replace(' ', "").to_lowercase(),
        );
        let mut params: Vec<(&str, String)> = Vec::new();
        let task = format!("WT{}", ph(Slot::Task));
        let reservation = format!("WR{}", ph(Slot::Reservation));
        match step.event() {
            None => {
                params.extend([
                    ("AccountSid", ACCOUNT.to_owned()),
                    ("WorkspaceSid", WORKSPACE.to_owned()),
                    ("WorkflowSid", WORKFLOW.to_owned()),
                    ("TaskQueueSid", QUEUE.to_owned()),
                    ("WorkerSid", wk.clone()),
                    ("WorkerAttributes", worker_attributes),
                    ("TaskSid", task),
                    ("TaskAttributes", task_attributes),
                    ("TaskAge", (worker % 20 + 1).to_string()),
                    ("TaskPriority", "0".to_owned()),
                    ("ReservationSid", reservation),
                    ("Timestamp", ph(Slot::Timestamp)),
                ]);
            }
            Some((event, description, resource)) => {
                let resource_sid = if resource == "Task" {
                    task.clone()
                } else {
                    reservation.clone()
                };
                params.extend([
                    ("EventType", event.to_owned()),
                    ("AccountSid", ACCOUNT.to_owned()),
                    ("WorkspaceSid", WORKSPACE.to_owned()),
                    ("WorkspaceName", "Support Center".to_owned()),
                    ("EventDescription", description.to_owned()),
                    ("ResourceType", resource.to_owned()),
                    ("ResourceSid", resource_sid),
                    ("Timestamp", ph(Slot::Timestamp)),
                    ("TaskSid", task),
                    ("TaskAttributes", task_attributes),
                    ("TaskAge", (worker % 20 + 1).to_string()),
                    ("TaskPriority", "0".to_owned()),
                    ("TaskAssignmentStatus", "reserved".to_owned()),
                    ("TaskQueueSid", QUEUE.to_owned()),
                    ("TaskQueueName", "Spanish and English".to_owned()),
                    ("WorkflowSid", WORKFLOW.to_owned()),
                    ("WorkflowName", "Default Fifo Workflow".to_owned()),
                ]);
                if step.has_worker() {
                    params.extend([
                        ("WorkerSid", wk.clone()),
                        ("WorkerName", name.clone()),
                        ("WorkerActivityName", "Available".to_owned()),
                    ]);
                }
                if step.has_reservation() {
                    params.push(("ReservationSid", reservation));
                }
            }
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .finish()
            .into_bytes();
        let mut slots = Vec::new();
        for slot in Slot::ALL {
            let needle = slot.placeholder();
            let needle = needle.as_bytes();
            let mut from = 0;
            while let Some(at) = body[from..]
                .windows(needle.len())
                .position(|w| w == needle)
                .map(|p| p + from)
            {
                slots.push((at, slot));
                from = at + needle.len();
            }
        }
        Self { step, body, slots }
    }

    /// Writes `task`'s values into a copy of the template; `unix_s` is the Timestamp.
    pub fn fill(&self, task: u64, unix_s: u64) -> Vec<u8> {
        let mut body = self.body.clone();
        for &(at, slot) in &self.slots {
            match slot {
                Slot::Task => hex32(task, 1, &mut body[at..]),
                Slot::Reservation => hex32(task, 2, &mut body[at..]),
                Slot::Call => hex32(task, 3, &mut body[at..]),
                Slot::Phone => digits(
                    5_550_000 + mix(task ^ 0xca11) % 50_000,
                    &mut body[at..at + 7],
                ),
                Slot::Timestamp => digits(unix_s, &mut body[at..at + 10]),
            }
        }
        body
    }
}

/// The request headers TaskRouter sends through a tunnel, in order (Content-Length is added by
/// the HTTP client, or by [`stored_headers`]).
pub fn request_headers(task: u64, step: usize) -> Vec<(&'static str, String)> {
    let token = mix(task.wrapping_mul(8).wrapping_add(step as u64));
    vec![
        ("Host", HOST.to_owned()),
        ("User-Agent", "TwilioProxy/1.1".to_owned()),
        ("Accept", "*/*".to_owned()),
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ),
        (
            "I-Twilio-Idempotency-Token",
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                token >> 32,
                (token >> 16) & 0xffff,
                token & 0xfff,
                (token >> 20) & 0xfff,
                mix(token) & 0xffff_ffff_ffff
            ),
        ),
        ("X-Home-Region", "us1".to_owned()),
        (
            "X-Twilio-Signature",
            format!("{:016x}{:011x}=", mix(token ^ 1), mix(token ^ 2) >> 20),
        ),
        ("X-Forwarded-For", "54.172.60.12".to_owned()),
        ("X-Forwarded-Proto", "https".to_owned()),
        ("Accept-Encoding", "gzip".to_owned()),
    ]
}

/// The header list as taskhook stores it (with the Content-Length the client sent).
pub fn stored_headers(task: u64, step: usize, body_len: usize) -> Vec<Header> {
    let mut headers: Vec<Header> = request_headers(task, step)
        .into_iter()
        .map(|(name, value)| Header::new(name, value.into_bytes()))
        .collect();
    headers.insert(3, Header::new("Content-Length", body_len.to_string()));
    headers
}
