//! Pushes through the ring: each series goes to its replication set, and a push succeeds when
//! every series reached a quorum of its replicas.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use neocortex_core::{ErrorCode, PushError, PushRequest, Pusher, TenantId};

use crate::hash::{series_token, Fnv32a};
use crate::ring::{InstanceDesc, Ring, RingError};

/// A `Pusher` that spreads each request over the ring's ingesters.
#[derive(Debug, Clone)]
pub struct RingPusher {
    ring: Arc<Ring>,
}

impl RingPusher {
    /// A pusher over `ring`.
    pub fn new(ring: Arc<Ring>) -> Self {
        Self { ring }
    }
}

fn ring_error(err: RingError) -> PushError {
    PushError::new(ErrorCode::Unavailable, err.to_string())
}

/// One instance's share of a request, and the series indexes it carries.
struct InstanceBatch {
    instance: Arc<InstanceDesc>,
    request: PushRequest,
    series_indexes: Vec<usize>,
}

#[async_trait]
impl Pusher for RingPusher {
    async fn push(&self, tenant: &TenantId, request: PushRequest) -> Result<(), PushError> {
        let instances = self.ring.instances();
        if instances.len() == 1 && self.ring.replication_factor() == 1 {
            // One ingester owns every token: skip the per-series hashing.
            self.ring.get(0).map_err(ring_error)?;
            return instances[0].client.push(tenant, request).await;
        }

        let series_count = request.series.len();
        let mut batches: HashMap<String, InstanceBatch> = HashMap::new();
        let mut max_errors_per_series = Vec::with_capacity(series_count);
        for (index, series) in request.series.into_iter().enumerate() {
            let set = self.ring.get(series_token(tenant.as_str(), &series.labels)).map_err(ring_error)?;
            max_errors_per_series.push(set.max_errors);
            for instance in set.instances {
                let batch = batches.entry(instance.id.clone()).or_insert_with(|| InstanceBatch {
                    instance: instance.clone(),
                    request: PushRequest::default(),
                    series_indexes: Vec::new(),
                });
                batch.request.series.push(series.clone());
                batch.series_indexes.push(index);
            }
        }
        for metadata in request.metadata {
            let mut hasher = Fnv32a::default();
            hasher.write(tenant.as_str().as_bytes());
            hasher.write(metadata.metric_family_name.as_bytes());
            let set = self.ring.get(hasher.finish()).map_err(ring_error)?;
            for instance in set.instances {
                let batch = batches.entry(instance.id.clone()).or_insert_with(|| InstanceBatch {
                    instance: instance.clone(),
                    request: PushRequest::default(),
                    series_indexes: Vec::new(),
                });
                batch.request.metadata.push(metadata.clone());
            }
        }

        let pushes = batches.into_values().map(|batch| async move {
            let result = batch.instance.client.push(tenant, batch.request).await;
            (batch.series_indexes, result)
        });
        let results = futures::future::join_all(pushes).await;

        let mut failures_per_series = vec![0usize; series_count];
        let mut client_error: Option<PushError> = None;
        let mut server_error: Option<PushError> = None;
        for (series_indexes, result) in results {
            let Err(err) = result else { continue };
            if err.code.http_status() < 500 {
                // A 4xx from an ingester is about the data, not its health: report it as is.
                client_error.get_or_insert(err);
                continue;
            }
            for index in series_indexes {
                failures_per_series[index] += 1;
            }
            server_error.get_or_insert(err);
        }
        if let Some(err) = client_error {
            return Err(err);
        }
        let quorum_lost = failures_per_series.iter().zip(&max_errors_per_series).any(|(f, max)| f > max);
        match server_error {
            Some(err) if quorum_lost => Err(err),
            _ => Ok(()),
        }
    }
}
