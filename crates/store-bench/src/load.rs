//! Sends the encoded workload to a remote-write URL: one task per connection, each sending its
//! bodies in order (so every series' samples arrive in time order), failing on any non-2xx.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use neocortex_loadgen::encode::EncodedWorkload;
use neocortex_testkit::http::{remote_write_request, send};

/// Pushes every body of `encoded` to `url`; returns the time taken.
pub(crate) async fn push_all(
    client: &reqwest::Client,
    url: &str,
    encoded: &EncodedWorkload,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for requests in &encoded.per_connection {
        let requests = requests.clone();
        let (client, url) = (client.clone(), url.to_owned());
        tasks.spawn(async move {
            for (index, request) in requests.iter().enumerate() {
                let (status, text) = send(remote_write_request(&client, &url, request.body.to_vec())).await?;
                if !(200..300).contains(&status) {
                    bail!("request {index} to {url} answered {status}: {text}");
                }
            }
            Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.context("a sender task failed")??;
    }
    Ok(started.elapsed())
}
