//! gRPC over one byte stream: buildkitd serves LLBBridge on the frontend process's stdin/stdout
//! (plain HTTP/2, no TLS, one connection), so the client's "connector" hands out that stream once.

use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::walk::Client;

/// Largest message either way: BuildKit's gateway gRPC limit (16 MiB).
pub const MAX_MESSAGE: usize = 16 << 20;

/// HTTP/2 stream flow-control window we grant (bytes).
pub const WINDOW: u32 = 16 << 20;
/// HTTP/2 connection flow-control window we grant (bytes).
pub const CONNECTION_WINDOW: u32 = 64 << 20;

/// A channel over `io`, the one connection to the bridge.
pub async fn channel_over<IO>(io: IO) -> Result<Channel, tonic::transport::Error>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let slot = Arc::new(Mutex::new(Some(io)));
    // The URI is never resolved: the connector ignores it.
    Endpoint::from_static("http://localhost")
        // ReadFile replies carry whole binaries: HTTP/2's default 64 KiB windows would stall every
        // reply on WINDOW_UPDATE round trips (grpc-go, buildkitd's side, sizes its windows by BDP).
        .initial_stream_window_size(WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let taken = slot.lock().ok().and_then(|mut s| s.take());
            async move {
                taken
                    .map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("the stdio connection is already in use"))
            }
        }))
        .await
}

/// The LLBBridge client over a channel, with BuildKit's message limits.
pub fn client(channel: Channel) -> Client {
    Client::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

/// The process's stdin (read) and stdout (write) as one stream.
pub fn stdio() -> tokio::io::Join<tokio::io::Stdin, tokio::io::Stdout> {
    tokio::io::join(tokio::io::stdin(), tokio::io::stdout())
}
