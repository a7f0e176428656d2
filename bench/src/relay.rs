//! A UDP relay on loopback that counts what crosses it: bytes on the wire
//! measured at the socket, not estimated. Each client address gets its own
//! upstream socket, like a NAT. The relay runs on a thread of its own and
//! stops when dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::net::UdpSocket;
use tokio::sync::oneshot;

const MAX_DATAGRAM: usize = 65_535;

/// UDP payload bytes and datagrams each way (IP and UDP headers, 28 bytes
/// per datagram on IPv4, are not included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub to_server_bytes: u64,
    pub to_server_datagrams: u64,
    pub to_client_bytes: u64,
    pub to_client_datagrams: u64,
}

#[derive(Default)]
struct Counters {
    to_server_bytes: AtomicU64,
    to_server_datagrams: AtomicU64,
    to_client_bytes: AtomicU64,
    to_client_datagrams: AtomicU64,
}

pub struct CountingRelay {
    /// Where clients send instead of the server.
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CountingRelay {
    pub fn start(server: SocketAddr) -> anyhow::Result<Self> {
        let front = std::net::UdpSocket::bind("127.0.0.1:0")?;
        front.set_nonblocking(true)?;
        let addr = front.local_addr()?;
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = oneshot::channel();
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("relay".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the relay");
                runtime.block_on(async move {
                    let front = Arc::new(UdpSocket::from_std(front).expect("relay socket"));
                    tokio::select! {
                        result = relay(front, server, thread_counters) => {
                            if let Err(e) = result {
                                eprintln!("relay stopped: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Self {
            addr,
            counters,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn traffic(&self) -> Traffic {
        let c = &self.counters;
        Traffic {
            to_server_bytes: c.to_server_bytes.load(Ordering::SeqCst),
            to_server_datagrams: c.to_server_datagrams.load(Ordering::SeqCst),
            to_client_bytes: c.to_client_bytes.load(Ordering::SeqCst),
            to_client_datagrams: c.to_client_datagrams.load(Ordering::SeqCst),
        }
    }
}

impl Drop for CountingRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn relay(
    front: Arc<UdpSocket>,
    server: SocketAddr,
    counters: Arc<Counters>,
) -> std::io::Result<()> {
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, client) = front.recv_from(&mut buf).await?;
        let upstream = match upstreams.get(&client) {
            Some(socket) => socket.clone(),
            None => {
                let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
                socket.connect(server).await?;
                tokio::spawn(back_to_client(
                    socket.clone(),
                    front.clone(),
                    client,
                    counters.clone(),
                ));
                upstreams.insert(client, socket.clone());
                socket
            }
        };
        counters
            .to_server_bytes
            .fetch_add(len as u64, Ordering::SeqCst);
        counters.to_server_datagrams.fetch_add(1, Ordering::SeqCst);
        upstream.send(&buf[..len]).await?;
    }
}

async fn back_to_client(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    counters: Arc<Counters>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while let Ok(len) = upstream.recv(&mut buf).await {
        counters
            .to_client_bytes
            .fetch_add(len as u64, Ordering::SeqCst);
        counters.to_client_datagrams.fetch_add(1, Ordering::SeqCst);
        if front.send_to(&buf[..len], client).await.is_err() {
            return;
        }
    }
}
