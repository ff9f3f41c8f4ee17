//! The state of every running module, for `/services` and `/ready`.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::modules::Module;

/// Lifecycle state of a module, with the names Cortex shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    /// Not started.
    New,
    /// Starting up.
    Starting,
    /// Serving.
    Running,
    /// Shutting down.
    Stopping,
    /// Stopped.
    Terminated,
}

impl ServiceState {
    /// Cortex's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            ServiceState::New => "New",
            ServiceState::Starting => "Starting",
            ServiceState::Running => "Running",
            ServiceState::Stopping => "Stopping",
            ServiceState::Terminated => "Terminated",
        }
    }
}

/// Shared table of module states.
#[derive(Debug, Clone, Default)]
pub struct Services {
    states: Arc<RwLock<Vec<(Module, ServiceState)>>>,
}

impl Services {
    /// A table with `modules` in state `New`.
    pub fn new(modules: &[Module]) -> Self {
        Self { states: Arc::new(RwLock::new(modules.iter().map(|m| (*m, ServiceState::New)).collect())) }
    }

    /// Records a module's new state.
    pub fn set(&self, module: Module, state: ServiceState) {
        let mut states = self.states.write();
        if let Some(entry) = states.iter_mut().find(|(m, _)| *m == module) {
            entry.1 = state;
        }
    }

    /// Sets every module to `state`.
    pub fn set_all(&self, state: ServiceState) {
        for entry in self.states.write().iter_mut() {
            entry.1 = state;
        }
    }

    /// The modules and their states, in start order.
    pub fn snapshot(&self) -> Vec<(Module, ServiceState)> {
        self.states.read().clone()
    }

    /// The modules that are not `Running`; empty when the process is ready.
    pub fn not_running(&self) -> Vec<(Module, ServiceState)> {
        self.states.read().iter().filter(|(_, s)| *s != ServiceState::Running).copied().collect()
    }
}
