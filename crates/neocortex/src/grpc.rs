//! The gRPC server. Today it serves the standard health service; the ingester, frontend and
//! ring services join it when components run in separate processes.

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

/// Serves gRPC on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    tonic::transport::Server::builder()
        .add_service(health_service)
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            async move { shutdown.cancelled().await },
        )
        .await?;
    Ok(())
}
