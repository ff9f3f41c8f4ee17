//! One flush queue: series waiting for a flush, each at most once, drained in batches by one
//! task. A series is keyed by its tenant and series ref.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::flush::policy::FlushReason;
use crate::postings::SeriesRef;
use crate::tenant::TenantDb;

/// One queued series.
#[derive(Debug, Clone)]
pub(crate) struct FlushOp {
    /// The tenant's database.
    pub(crate) tenant: Arc<TenantDb>,
    /// The series.
    pub(crate) series: SeriesRef,
    /// Flush whatever is unflushed, whatever its age (`/flush`, shutdown).
    pub(crate) immediate: bool,
    /// Why it was queued.
    pub(crate) reason: FlushReason,
}

impl FlushOp {
    fn key(&self) -> (usize, SeriesRef) {
        (Arc::as_ptr(&self.tenant) as usize, self.series)
    }
}

#[derive(Debug, Default)]
struct State {
    ops: VecDeque<FlushOp>,
    queued: HashSet<(usize, SeriesRef)>,
}

/// A FIFO of series to flush without duplicates.
#[derive(Debug, Default)]
pub(crate) struct FlushQueue {
    state: Mutex<State>,
    ready: Notify,
}

impl FlushQueue {
    /// Queues `op` unless its series is already queued (an immediate op upgrades a queued one);
    /// returns whether it was added.
    pub(crate) fn enqueue(&self, op: FlushOp) -> bool {
        let mut state = self.state.lock();
        let key = op.key();
        if !state.queued.insert(key) {
            if op.immediate {
                if let Some(queued) = state.ops.iter_mut().find(|queued| queued.key() == key) {
                    queued.immediate = true;
                }
            }
            return false;
        }
        state.ops.push_back(op);
        drop(state);
        self.ready.notify_one();
        true
    }

    /// Takes up to `max` ops, oldest first.
    pub(crate) fn take(&self, max: usize) -> Vec<FlushOp> {
        let mut state = self.state.lock();
        let count = state.ops.len().min(max);
        let taken: Vec<FlushOp> = state.ops.drain(..count).collect();
        for op in &taken {
            state.queued.remove(&op.key());
        }
        taken
    }

    /// Waits until something may have been queued.
    pub(crate) async fn wait(&self) {
        self.ready.notified().await;
    }

    /// Wakes the draining task (to make it see a stop request).
    pub(crate) fn wake(&self) {
        self.ready.notify_one();
    }
}
