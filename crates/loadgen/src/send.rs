//! The timed phase: sends pre-encoded requests over N connections and records what happened.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::encode::{EncodedRequest, EncodedWorkload};

/// Where and how to send the requests.
#[derive(Clone, Debug, Default)]
pub struct SendOptions {
    /// The remote-write push URL, e.g. `http://127.0.0.1:9009/api/v1/push`.
    pub url: String,
    /// Sent as `X-Scope-OrgID` when set.
    pub tenant: Option<String>,
    /// Sent as HTTP basic auth `(user, password)` when set.
    pub basic_auth: Option<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Why the timed phase could not start.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The HTTP client could not be built (bad TLS setup, invalid options).
    #[error("cannot build the http client: {0}")]
    Client(#[from] reqwest::Error),
    /// A worker task panicked or was cancelled.
    #[error("a sending task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What the timed phase measured.
#[derive(Clone, Debug, Default)]
pub struct SendOutcome {
    /// Latency of every request that got an HTTP answer or failed in transport.
    pub latencies: Vec<Duration>,
    /// Count of answers per HTTP status code, plus `"transport"` for requests that got none.
    pub status_counts: BTreeMap<String, u64>,
    /// Samples in requests answered with a 2xx status.
    pub samples_accepted: u64,
    /// Samples in all requests.
    pub samples_sent: u64,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// The first few error answers (status and body), to tell the user what went wrong.
    pub error_examples: Vec<String>,
}

const ERROR_EXAMPLES_KEPT: usize = 5;

/// Sends every connection's requests in order, all connections at once, and waits for the end.
pub async fn send_workload(
    workload: EncodedWorkload,
    options: &SendOptions,
) -> Result<SendOutcome, SendError> {
    let clients = (0..workload.per_connection.len())
        .map(|_| {
            reqwest::Client::builder()
                .http1_only()
                .pool_max_idle_per_host(1)
                .timeout(options.timeout)
                .user_agent(concat!("neocortex-loadgen/", env!("CARGO_PKG_VERSION")))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (client, requests) in clients.into_iter().zip(workload.per_connection) {
        let options = options.clone();
        tasks.push(tokio::spawn(async move { send_connection(client, requests, &options).await }));
    }
    let mut outcome = SendOutcome::default();
    for task in tasks {
        merge(&mut outcome, task.await?);
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

async fn send_connection(
    client: reqwest::Client,
    requests: Vec<EncodedRequest>,
    options: &SendOptions,
) -> SendOutcome {
    let mut outcome = SendOutcome { latencies: Vec::with_capacity(requests.len()), ..SendOutcome::default() };
    for request in requests {
        let mut builder = client
            .post(&options.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(request.body);
        if let Some(tenant) = &options.tenant {
            builder = builder.header("X-Scope-OrgID", tenant);
        }
        if let Some((user, password)) = &options.basic_auth {
            builder = builder.basic_auth(user, Some(password));
        }
        let sent_at = Instant::now();
        let answer = builder.send().await;
        outcome.samples_sent += request.samples;
        let status_key = match answer {
            Ok(response) => {
                let status = response.status();
                // Read the whole body so the connection is reused, and keep it for error reports.
                let body = response.text().await.unwrap_or_default();
                if status.is_success() {
                    outcome.samples_accepted += request.samples;
                } else if outcome.error_examples.len() < ERROR_EXAMPLES_KEPT {
                    outcome.error_examples.push(format!("{}: {}", status.as_u16(), body.trim()));
                }
                status.as_u16().to_string()
            }
            Err(error) => {
                if outcome.error_examples.len() < ERROR_EXAMPLES_KEPT {
                    outcome.error_examples.push(format!("transport: {error}"));
                }
                "transport".to_owned()
            }
        };
        outcome.latencies.push(sent_at.elapsed());
        *outcome.status_counts.entry(status_key).or_default() += 1;
    }
    outcome
}

fn merge(total: &mut SendOutcome, part: SendOutcome) {
    total.latencies.extend(part.latencies);
    for (status, count) in part.status_counts {
        *total.status_counts.entry(status).or_default() += count;
    }
    total.samples_accepted += part.samples_accepted;
    total.samples_sent += part.samples_sent;
    for example in part.error_examples {
        if total.error_examples.len() < ERROR_EXAMPLES_KEPT {
            total.error_examples.push(example);
        }
    }
}
