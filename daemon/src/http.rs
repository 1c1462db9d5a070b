//! The daemon's one HTTP endpoint (`[metrics] listen`): `GET /metrics`, the
//! Prometheus scrape ([`crate::metrics`]), and `GET /health`, what an
//! external failure detector (`holdback watch`, claims 38-40) probes from
//! another host. Both are read-only: nothing served here changes the daemon,
//! so the endpoint needs no authentication.
//!
//! hyper parses every request and answers the malformed ones itself (400,
//! 431 for a head over [`MAX_REQUEST_HEAD`]); axum routes (404 for other
//! paths, 405 with `Allow` for other methods). A client that has not sent a
//! complete request head within [`HEADER_READ_TIMEOUT`] of connecting is
//! disconnected (one request per connection), so clients that dribble a header
//! byte at a time (slow loris) cost a task each for a few seconds and never
//! hold up a scrape.
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::control::PairRole;

/// Longest a client may take to send a complete request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head hyper buffers (its minimum); a longer one gets 431.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Connections served at once; more are closed on accept. Bounds the file
/// descriptors the endpoint can take from the daemon (sink files, card).
pub const MAX_CONNECTIONS: usize = 256;
/// The path `holdback watch` probes.
pub const HEALTH_PATH: &str = "/health";
/// The service loop counts as stuck when it has not run for this long
/// (it runs every [`crate::service::POLL_EVERY`]).
pub const LOOP_STALE_AFTER: Duration = Duration::from_secs(3);

/// Answer of `GET /health`: status 200 while `serving`, 503 otherwise, with
/// this body either way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// The daemon serves its card: the service loop ran within
    /// [`LOOP_STALE_AFTER`], and the card answered a status read over its
    /// bus with its enable bit set — what a control-socket `status` shows.
    pub serving: bool,
    /// Why not, when not serving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The pair member's role; none for a lone card (no `[replication]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<PairRole>,
    /// The pair's epoch this daemon is in (invariant 8); none for a lone card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    pub card_enabled: bool,
    /// Milliseconds since the service loop last ran.
    pub service_loop_age_ms: u64,
    pub uptime_ms: u64,
    pub pid: u32,
    pub daemon_version: String,
}

/// A health check under way.
pub type HealthFuture = Pin<Box<dyn Future<Output = Health> + Send>>;

/// What the endpoint serves, supplied by the service loop.
#[derive(Clone)]
pub struct Endpoints {
    /// The metrics text of this moment ([`crate::metrics::render`]).
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    /// A fresh health check (reads the card).
    pub health: Arc<dyn Fn() -> HealthFuture + Send + Sync>,
}

/// The route table.
pub fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route(HEALTH_PATH, get(health))
        .fallback(not_found)
        .with_state(endpoints)
}

async fn metrics(State(e): State<Endpoints>) -> Response {
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], (e.metrics)()).into_response()
}

async fn health(State(e): State<Endpoints>) -> Response {
    let h = (e.health)().await;
    let status = if h.serving { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(h)).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found: the endpoint serves /metrics and /health\n").into_response()
}

/// Bind the endpoint (before the card is opened, so a taken port fails the
/// start cleanly).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Serve `endpoints` on `listener` until `stop` completes; connections
/// still open then are dropped.
pub async fn serve(listener: TcpListener, endpoints: Endpoints, stop: impl Future<Output = ()>) {
    let service = TowerToHyperService::new(router(endpoints));
    let mut http = hyper::server::conn::http1::Builder::new();
    // One request per connection: a scrape or a probe every few seconds
    // gains nothing from keep-alive, and no idle connection lingers.
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .keep_alive(false);
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) if conns.len() >= MAX_CONNECTIONS => {
                    tracing::warn!(%peer, open = conns.len(), "HTTP endpoint: too many connections, closing a new one");
                    drop(stream);
                }
                Ok((stream, peer)) => {
                    let connection = http.serve_connection(TokioIo::new(stream), service.clone());
                    conns.spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(%peer, "HTTP connection: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn endpoints(serving: bool) -> Endpoints {
        Endpoints {
            metrics: Arc::new(|| crate::metrics::render(&crate::metrics::Snapshot::default())),
            health: Arc::new(move || {
                Box::pin(async move {
                    Health {
                        serving,
                        problem: (!serving).then(|| "the card stopped".to_string()),
                        role: Some(PairRole::Active),
                        epoch: Some(4),
                        card_enabled: serving,
                        service_loop_age_ms: 10,
                        uptime_ms: 1000,
                        pid: 1,
                        daemon_version: "test".into(),
                    }
                })
            }),
        }
    }

    async fn start(serving: bool) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::from_std(bind("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, endpoints(serving), async {
            let _ = rx.await;
        }));
        (addr, tx, server)
    }

    /// One request on its own connection; the whole answer (the server closes).
    async fn ask(addr: SocketAddr, req: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(req).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn the_endpoint_answers_200_404_405_400_431_and_keeps_serving() {
        let (addr, stop, server) = start(true).await;
        let ok = ask(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.to_ascii_lowercase().contains("content-type: application/openmetrics-text"), "{ok}");
        crate::metrics::parse_exposition(ok.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert!(ask(addr, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n").await.starts_with("HTTP/1.1 404"));
        let post = ask(addr, b"DELETE /metrics HTTP/1.1\r\nConnection: close\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        assert!(post.to_ascii_lowercase().contains("allow: get,head"), "{post}");
        for garbage in [&b"\x00\x01garbage\r\n\r\n"[..], b"hello world\r\n\r\n", b"GET /metrics SMTP\r\n\r\n"] {
            let answer = ask(addr, garbage).await;
            assert!(answer.starts_with("HTTP/1.1 400"), "{garbage:?} got {answer}");
        }
        let mut oversized = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        oversized.extend([b'A'; MAX_REQUEST_HEAD + 100]);
        let answer = ask(addr, &oversized).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        let head = ask(addr, b"HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"), "{head}");
        assert!(ask(addr, b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n").await.starts_with("HTTP/1.1 200"));
        stop.send(()).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn health_is_typed_json_with_503_when_not_serving() {
        for serving in [true, false] {
            let (addr, stop, server) = start(serving).await;
            let answer = ask(addr, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").await;
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(if serving { "HTTP/1.1 200" } else { "HTTP/1.1 503" }), "{head}");
            let h: Health = serde_json::from_str(body).unwrap();
            assert_eq!((h.serving, h.role, h.epoch), (serving, Some(PairRole::Active), Some(4)));
            assert_eq!(h.problem.is_some(), !serving);
            stop.send(()).unwrap();
            server.await.unwrap();
        }
    }
}
