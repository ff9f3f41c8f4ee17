//! Ring state: instances with tokens and states, and replication-set lookups.

use std::collections::BTreeMap;
use std::sync::Arc;

use neocortex_core::{Pusher, QueryableSource};
use parking_lot::RwLock;
use rand::Rng;

/// An ingester as the ring sees it: something to push to and to read from.
pub trait IngesterClient: Pusher + QueryableSource {}

impl<T: Pusher + QueryableSource> IngesterClient for T {}

/// Lifecycle state of an instance in the ring (Cortex's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InstanceState {
    /// Registered without tokens.
    Pending,
    /// Taking over tokens; not yet written to.
    Joining,
    /// Serving writes and reads.
    Active,
    /// Handing over; still read from.
    Leaving,
}

/// One instance of the ring.
#[derive(Clone)]
pub struct InstanceDesc {
    /// Unique instance id (Cortex's `-ingester.lifecycler.ID`, the hostname by default).
    pub id: String,
    /// Address other components reach it at.
    pub addr: String,
    /// Lifecycle state.
    pub state: InstanceState,
    /// Owned tokens, sorted.
    pub tokens: Vec<u32>,
    /// How to push to and read from it.
    pub client: Arc<dyn IngesterClient>,
}

impl std::fmt::Debug for InstanceDesc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceDesc")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .field("state", &self.state)
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

/// The instances chosen for one key, and how many of them may fail.
#[derive(Debug, Clone)]
pub struct ReplicationSet {
    /// Chosen instances, in ring order.
    pub instances: Vec<Arc<InstanceDesc>>,
    /// How many may fail while the operation still succeeds (quorum).
    pub max_errors: usize,
}

/// Why a ring lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// No instance owns any token.
    #[error("empty ring")]
    Empty,
    /// Fewer healthy instances than the quorum needs.
    #[error("at least {needed} live replicas required, could only find {found}")]
    TooFewReplicas {
        /// Replicas needed for a quorum.
        needed: usize,
        /// Healthy replicas found.
        found: usize,
    },
}

#[derive(Default)]
struct RingState {
    instances: BTreeMap<String, Arc<InstanceDesc>>,
    /// Every token with the id of its owner, sorted by token.
    token_owners: Vec<(u32, Arc<InstanceDesc>)>,
}

/// The hash ring with a replication factor.
pub struct Ring {
    replication_factor: usize,
    state: RwLock<RingState>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("replication_factor", &self.replication_factor).finish()
    }
}

impl Ring {
    /// An empty ring that places each key on `replication_factor` instances.
    pub fn new(replication_factor: usize) -> Self {
        Self { replication_factor: replication_factor.max(1), state: RwLock::new(RingState::default()) }
    }

    /// The replication factor.
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    /// Adds or replaces an instance with `num_tokens` fresh random tokens, in state `Active`.
    pub fn join(&self, id: &str, addr: &str, num_tokens: usize, client: Arc<dyn IngesterClient>) {
        let mut rng = rand::rng();
        let mut tokens: Vec<u32> = (0..num_tokens.max(1)).map(|_| rng.random()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        self.upsert(InstanceDesc {
            id: id.to_string(),
            addr: addr.to_string(),
            state: InstanceState::Active,
            tokens,
            client,
        });
    }

    /// Adds or replaces an instance as given.
    pub fn upsert(&self, instance: InstanceDesc) {
        let mut state = self.state.write();
        state.instances.insert(instance.id.clone(), Arc::new(instance));
        rebuild_tokens(&mut state);
    }

    /// Changes an instance's state (e.g. to `Leaving` on shutdown).
    pub fn set_state(&self, id: &str, new_state: InstanceState) {
        let mut state = self.state.write();
        let Some(existing) = state.instances.get(id) else { return };
        let mut updated = InstanceDesc::clone(existing);
        updated.state = new_state;
        state.instances.insert(id.to_string(), Arc::new(updated));
        rebuild_tokens(&mut state);
    }

    /// Removes an instance and its tokens.
    pub fn leave(&self, id: &str) {
        let mut state = self.state.write();
        state.instances.remove(id);
        rebuild_tokens(&mut state);
    }

    /// Every instance, sorted by id.
    pub fn instances(&self) -> Vec<Arc<InstanceDesc>> {
        self.state.read().instances.values().cloned().collect()
    }

    /// Instances that can serve reads (`Active` or `Leaving`).
    pub fn readable_instances(&self) -> Vec<Arc<InstanceDesc>> {
        self.state
            .read()
            .instances
            .values()
            .filter(|i| matches!(i.state, InstanceState::Active | InstanceState::Leaving))
            .cloned()
            .collect()
    }

    /// The write replication set for `token`: the next `replication_factor` distinct instances
    /// clockwise; non-`Active` ones are skipped and lower the tolerated errors, as in Cortex.
    pub fn get(&self, token: u32) -> Result<ReplicationSet, RingError> {
        let state = self.state.read();
        if state.token_owners.is_empty() {
            return Err(RingError::Empty);
        }
        let wanted = self.replication_factor.min(state.instances.len());
        let start = state.token_owners.partition_point(|(t, _)| *t < token);
        let mut chosen: Vec<Arc<InstanceDesc>> = Vec::with_capacity(wanted);
        for offset in 0..state.token_owners.len() {
            if chosen.len() == wanted {
                break;
            }
            let (_, owner) = &state.token_owners[(start + offset) % state.token_owners.len()];
            if chosen.iter().any(|c| c.id == owner.id) {
                continue;
            }
            chosen.push(owner.clone());
        }
        let quorum = self.replication_factor / 2 + 1;
        let healthy: Vec<Arc<InstanceDesc>> =
            chosen.into_iter().filter(|i| i.state == InstanceState::Active).collect();
        let needed = quorum.min(wanted);
        if healthy.len() < needed {
            return Err(RingError::TooFewReplicas { needed, found: healthy.len() });
        }
        let max_errors = healthy.len() - needed;
        Ok(ReplicationSet { instances: healthy, max_errors })
    }
}

fn rebuild_tokens(state: &mut RingState) {
    let mut owners: Vec<(u32, Arc<InstanceDesc>)> = state
        .instances
        .values()
        .filter(|i| i.state != InstanceState::Pending)
        .flat_map(|i| i.tokens.iter().map(move |t| (*t, i.clone())))
        .collect();
    owners.sort_by_key(|(t, _)| *t);
    state.token_owners = owners;
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use neocortex_core::{MetricMetadata, PushError, PushRequest, Queryable, QueryableSource, TenantId};
    use proptest::prelude::*;

    struct Nothing;

    #[async_trait]
    impl Pusher for Nothing {
        async fn push(&self, _: &TenantId, _: PushRequest) -> Result<(), PushError> {
            Ok(())
        }
    }

    impl QueryableSource for Nothing {
        fn queryable(&self, _: &TenantId) -> Arc<dyn Queryable> {
            unimplemented!("not read in these tests")
        }
        fn metadata(&self, _: &TenantId, _: Option<&str>, _: Option<usize>) -> Vec<MetricMetadata> {
            Vec::new()
        }
    }

    fn ring_with(instances: usize, rf: usize) -> Ring {
        let ring = Ring::new(rf);
        for i in 0..instances {
            ring.join(&format!("ingester-{i}"), "local", 128, Arc::new(Nothing));
        }
        ring
    }

    #[test]
    fn empty_ring_is_an_error() {
        assert_eq!(Ring::new(1).get(5).unwrap_err(), RingError::Empty);
    }

    proptest! {
        #[test]
        fn replication_sets_have_distinct_instances(token in any::<u32>(), instances in 1usize..6) {
            let ring = ring_with(instances, 3);
            let set = ring.get(token).unwrap();
            let mut ids: Vec<&str> = set.instances.iter().map(|i| i.id.as_str()).collect();
            prop_assert_eq!(ids.len(), instances.min(3));
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), instances.min(3));
        }
    }

    #[test]
    fn leaving_instances_reduce_tolerated_errors() {
        let ring = ring_with(3, 3);
        assert_eq!(ring.get(1).unwrap().max_errors, 1);
        ring.set_state("ingester-0", InstanceState::Leaving);
        assert_eq!(ring.get(1).unwrap().max_errors, 0);
        ring.set_state("ingester-1", InstanceState::Leaving);
        assert_eq!(ring.get(1).unwrap_err(), RingError::TooFewReplicas { needed: 2, found: 1 });
    }
}
