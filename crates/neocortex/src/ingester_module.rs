//! The running ingester module: the in-memory ingester, its flusher into the chunk store, and
//! what `/flush`, `/shutdown` and process shutdown do with them (Cortex 1.10's semantics).

use std::sync::Arc;
use std::time::Duration;

use neocortex_ingester::{Flusher, Ingester};
use neocortex_ring::{InstanceState, Ring};

use crate::modules::Module;
use crate::services::{ServiceState, Services};

/// What a `/flush` did: series queued, and (when it waited) series whose flush failed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Series queued for a flush.
    pub queued: usize,
    /// Series whose flush failed or timed out while the caller waited.
    pub failed: u64,
}

/// The id under which the in-process ingester joins the ring.
pub const INGESTER_ID: &str = "ingester-local";

/// The ingester as a module that can be flushed and shut down on its own.
pub struct IngesterModule {
    ingester: Arc<Ingester>,
    flusher: Option<Arc<Flusher>>,
    ring: Arc<Ring>,
    services: Services,
    /// Held while a shutdown runs; `true` once the module has stopped.
    stopped: tokio::sync::Mutex<bool>,
}

impl IngesterModule {
    /// The module over `ingester`, flushing with `flusher` (none without a chunk store).
    pub fn new(
        ingester: Arc<Ingester>,
        flusher: Option<Arc<Flusher>>,
        ring: Arc<Ring>,
        services: Services,
    ) -> Self {
        Self { ingester, flusher, ring, services, stopped: tokio::sync::Mutex::new(false) }
    }

    /// The in-memory ingester.
    pub fn ingester(&self) -> &Arc<Ingester> {
        &self.ingester
    }

    /// The flusher, when a chunk store is configured.
    pub fn flusher(&self) -> Option<&Arc<Flusher>> {
        self.flusher.as_ref()
    }

    /// Queues every series with unflushed samples (`/flush`); with `wait`, returns once the
    /// queued flushes finished and counts the series whose flush failed meanwhile (they stay
    /// in memory for the next sweep).
    pub async fn flush(&self, wait: bool) -> FlushOutcome {
        let Some(flusher) = &self.flusher else { return FlushOutcome::default() };
        let failed_before = flusher.failed_series_total();
        let queued = flusher.flush_all();
        let mut failed = 0;
        if wait {
            flusher.wait_idle().await;
            failed = flusher.failed_series_total().saturating_sub(failed_before);
        }
        FlushOutcome { queued, failed }
    }

    /// Stops the module: optionally flushes everything (bounded by `flush_timeout`), stops the
    /// flush loop, leaves the ring and marks the module terminated. Other modules keep running.
    /// Calling it again does nothing.
    pub async fn shutdown(&self, flush: bool, flush_timeout: Duration) {
        let mut stopped = self.stopped.lock().await;
        if *stopped {
            return;
        }
        self.services.set(Module::Ingester, ServiceState::Stopping);
        // Leaving: no more writes, still read from while its chunks are flushed.
        self.ring.set_state(INGESTER_ID, InstanceState::Leaving);
        if let Some(flusher) = &self.flusher {
            if flush {
                let complete = flusher.flush_all_and_wait(flush_timeout).await;
                if !complete {
                    tracing::warn!(
                        unflushed_series = self.ingester.unflushed_series(),
                        ?flush_timeout,
                        "ingester shutdown: not every series could be flushed in time"
                    );
                }
            }
            flusher.stop();
        }
        self.ring.leave(INGESTER_ID);
        self.services.set(Module::Ingester, ServiceState::Terminated);
        *stopped = true;
        tracing::info!("ingester stopped");
    }
}
