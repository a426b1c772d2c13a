//! Worker Channels (multitasking): each worker has one per TaskChannel, with a capacity (how
//! many tasks of that channel it may hold at once, 1 by default) and an availability. Routing
//! offers a task only to a worker whose channel for it is available and not full.

use sha2::Digest as _;
use time::OffsetDateTime;

use super::{
    ChannelSetting, Fail, State, TaskChannel, Worker, integer, now, reservation_status as rs,
};

/// Largest Worker Channel capacity TaskRouter accepts.
const MAX_CAPACITY: i64 = 50;

/// One Worker Channel as the API shows it.
pub struct WorkerChannel<'a> {
    /// `WC…`: derived from the worker and channel, so it is stable without being stored.
    pub sid: String,
    pub worker: &'a Worker,
    pub channel: &'a TaskChannel,
    pub capacity: u32,
    pub available: bool,
    pub assigned: u32,
    pub updated: OffsetDateTime,
}

fn channel_sid(worker: &str, channel: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{worker}:{channel}").as_bytes());
    format!("WC{}", hex::encode(&digest[..16]))
}

impl State {
    /// Tasks of `channel_sid` the worker holds or is being offered.
    fn held(&self, worker_sid: &str, channel_sid: &str) -> u32 {
        self.reservations
            .iter()
            .filter(|r| {
                r.worker_sid == worker_sid
                    && matches!(r.status, rs::PENDING | rs::ACCEPTED | rs::WRAPPING)
            })
            .filter(|r| {
                self.task_index(&r.task_sid)
                    .is_some_and(|ti| self.tasks[ti].channel_sid == channel_sid)
            })
            .count() as u32
    }

    fn setting<'a>(worker: &'a Worker, channel_sid: &str) -> Option<&'a ChannelSetting> {
        worker
            .channel_settings
            .iter()
            .find(|s| s.channel_sid == channel_sid)
    }

    /// Whether the worker may be offered one more task of `channel_sid`.
    pub(super) fn has_room(&self, worker: &Worker, channel_sid: &str) -> bool {
        let (capacity, available) =
            Self::setting(worker, channel_sid).map_or((1, true), |s| (s.capacity, s.available));
        available && self.held(&worker.sid, channel_sid) < capacity
    }

    pub fn worker_channels(&self, wi: usize) -> Vec<WorkerChannel<'_>> {
        let worker = &self.workers[wi];
        self.channels
            .iter()
            .map(|channel| {
                let setting = Self::setting(worker, &channel.sid);
                WorkerChannel {
                    sid: channel_sid(&worker.sid, &channel.sid),
                    worker,
                    channel,
                    capacity: setting.map_or(1, |s| s.capacity),
                    available: setting.is_none_or(|s| s.available),
                    assigned: self.held(&worker.sid, &channel.sid),
                    updated: setting.map_or(worker.created.max(channel.created), |s| s.updated),
                }
            })
            .collect()
    }

    /// The index in [`State::worker_channels`] of `id`: a `WC…` SID, a TaskChannel SID or its
    /// unique name.
    pub fn worker_channel_index(&self, wi: usize, id: &str) -> Option<usize> {
        self.worker_channels(wi)
            .iter()
            .position(|c| c.sid == id || c.channel.sid == id || c.channel.unique_name == id)
    }

    pub fn update_worker_channel(
        &mut self,
        wi: usize,
        index: usize,
        capacity: Option<&str>,
        available: Option<bool>,
    ) -> Result<(), Fail> {
        let capacity = match capacity {
            Some(value) => Some(integer("Capacity", value, 0..=MAX_CAPACITY)? as u32),
            None => None,
        };
        let channel_sid = self.channels[index].sid.clone();
        let worker = &mut self.workers[wi];
        let at = now();
        let position = worker
            .channel_settings
            .iter()
            .position(|s| s.channel_sid == channel_sid);
        let setting = match position {
            Some(i) => &mut worker.channel_settings[i],
            None => {
                worker.channel_settings.push(ChannelSetting {
                    channel_sid,
                    capacity: 1,
                    available: true,
                    updated: at,
                });
                worker.channel_settings.last_mut().expect("just pushed")
            }
        };
        if let Some(capacity) = capacity {
            setting.capacity = capacity;
        }
        if let Some(available) = available {
            setting.available = available;
        }
        setting.updated = at;
        // More room may let a waiting task through.
        self.route();
        Ok(())
    }
}
