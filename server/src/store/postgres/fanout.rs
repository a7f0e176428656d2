//! Messages between the processes sharing this database over PostgreSQL's
//! `LISTEN`/`NOTIFY` (ADR 0033). Sending is queued and done by one task on
//! the store's runtime, after the change's own commit: several messages
//! queued together go out in one `NOTIFY` transaction, and a push never waits
//! for it (a transaction that notifies takes a lock every notifying commit
//! of the cluster queues on, held through its WAL flush). Listening is a
//! connection of its own, outside the pool, polled for notifications; when
//! the database goes away it connects again and says [`Heard::Missed`].

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use crate::store::fanout::{Fanout, Heard, MAX_MESSAGE};

/// The channel every process of a deployment listens on. `NOTIFY` reaches
/// the sessions of the same database only, so one name serves every city
/// on a cluster.
const CHANNEL: &str = "gridwarden_changes";
/// Messages waiting to be sent; past this they are dropped (hints).
const QUEUE: usize = 4_096;
/// Most messages one `NOTIFY` transaction carries.
const BATCH: usize = 256;
/// How often a quiet listening connection is checked: a database gone
/// without closing the socket is noticed within this and the check's
/// timeout.
const CHECK_EVERY: Duration = Duration::from_secs(10);
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Waits between attempts to listen again, doubling up to the most: a
/// restarted database is heard again within a second of accepting
/// connections.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MOST: Duration = Duration::from_secs(1);

enum Outgoing {
    Message(String),
    /// Answered once everything queued before it was sent (or dropped).
    Flush(std::sync::mpsc::Sender<()>),
}

pub(super) struct PgFanout {
    config: Config,
    rt: Handle,
    outgoing: mpsc::Sender<Outgoing>,
    /// The URL without its password, for logs.
    shown: String,
}

impl PgFanout {
    /// Starts the sending task on `rt`; listening starts at [`Fanout::listen`].
    pub(super) fn start(config: Config, pool: Pool, rt: Handle, shown: String) -> Arc<Self> {
        let (outgoing, queued) = mpsc::channel(QUEUE);
        rt.spawn(send_queued(pool, queued));
        Arc::new(Self {
            config,
            rt,
            outgoing,
            shown,
        })
    }
}

impl Fanout for PgFanout {
    fn send(&self, message: String) {
        debug_assert!(message.len() <= MAX_MESSAGE);
        if let Err(e) = self.outgoing.try_send(Outgoing::Message(message)) {
            tracing::warn!(error = %e, "a change was not told to the other server processes");
        }
    }

    fn flush(&self, within: Duration) -> bool {
        let (done, wait) = std::sync::mpsc::channel();
        let queue = self.outgoing.clone();
        // Queued from the store's runtime, so this works from any thread
        // (waiting for room if the queue is full); a flush that could not
        // be queued drops `done`, which ends the wait at once.
        self.rt.spawn(async move {
            let _ = tokio::time::timeout(within, queue.send(Outgoing::Flush(done))).await;
        });
        wait.recv_timeout(within).is_ok()
    }

    fn listen(&self) -> mpsc::UnboundedReceiver<Heard> {
        let (heard, receiver) = mpsc::unbounded_channel();
        self.rt
            .spawn(listen(self.config.clone(), heard, self.shown.clone()));
        receiver
    }
}

/// Sends what is queued, as it comes, each batch in one transaction.
async fn send_queued(pool: Pool, mut queued: mpsc::Receiver<Outgoing>) {
    while let Some(first) = queued.recv().await {
        let mut messages = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Outgoing::Message(m) => messages.push(m),
                Outgoing::Flush(done) => flushes.push(done),
            }
            if messages.len() < BATCH {
                next = queued.try_recv().ok();
            }
        }
        if !messages.is_empty() {
            // A pooled connection the database dropped (a restart) fails
            // once; a second one is fresh.
            let mut sent = notify(&pool, &messages).await;
            if sent.is_err() {
                sent = notify(&pool, &messages).await;
            }
            if let Err(e) = sent {
                tracing::warn!(
                    error = %e,
                    messages = messages.len(),
                    "changes were not told to the other server processes"
                );
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

async fn notify(pool: &Pool, messages: &[String]) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    client
        .execute(
            "SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m",
            &[&CHANNEL, &messages],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Listens for as long as `heard` has a reader, connecting again after
/// every loss; after each reconnection says [`Heard::Missed`].
async fn listen(config: Config, heard: mpsc::UnboundedSender<Heard>, shown: String) {
    let mut wait = RETRY_FIRST;
    let mut lost = false;
    while !heard.is_closed() {
        match listen_once(&config, &heard, lost).await {
            Ok(()) => return,
            Err(e) => {
                if !lost {
                    tracing::warn!(
                        error = %e,
                        store = %shown,
                        "not hearing other server processes' changes; connecting again"
                    );
                }
                if lost {
                    wait = (wait * 2).min(RETRY_MOST);
                } else {
                    wait = RETRY_FIRST;
                }
                lost = true;
            }
        }
        tokio::time::sleep(wait).await;
    }
}

/// One listening connection, until it fails (`Err`) or nobody reads what it
/// hears (`Ok`). `again`: messages may have been missed before it.
async fn listen_once(
    config: &Config,
    heard: &mpsc::UnboundedSender<Heard>,
    again: bool,
) -> Result<(), String> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
    let forward = heard.clone();
    // The connection hands over notifications only when polled: a task of
    // its own polls it, forwarding them, until it ends.
    let mut driver = tokio::spawn(async move {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if forward
                        .send(Heard::Message(n.payload().to_owned()))
                        .is_err()
                    {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the database closed the connection".to_owned()),
            }
        }
    });
    let listening = client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| e.to_string());
    if let Err(e) = listening {
        driver.abort();
        return Err(e);
    }
    if again {
        tracing::info!("hearing other server processes' changes again");
        if heard.send(Heard::Missed).is_err() {
            driver.abort();
            return Ok(());
        }
    }
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.tick().await;
    loop {
        tokio::select! {
            ended = &mut driver => {
                return match ended {
                    Ok(result) => result,
                    Err(e) => Err(e.to_string()),
                };
            }
            _ = check.tick() => {
                let alive = tokio::time::timeout(CHECK_TIMEOUT, client.batch_execute("SELECT 1")).await;
                if !matches!(alive, Ok(Ok(()))) {
                    driver.abort();
                    return Err("the listening connection stopped answering".to_owned());
                }
                if heard.is_closed() {
                    driver.abort();
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::{cluster, PgStore};
    use crate::store::fanout::Heard;
    use crate::store::FanoutStore;

    /// Reads the next thing heard, up to `limit`, passing over probes.
    fn next(
        rt: &tokio::runtime::Runtime,
        heard: &mut tokio::sync::mpsc::UnboundedReceiver<Heard>,
        limit: Duration,
    ) -> Option<Heard> {
        loop {
            let h = rt
                .block_on(async { tokio::time::timeout(limit, heard.recv()).await })
                .ok()
                .flatten();
            match h {
                Some(Heard::Message(m)) if m.starts_with("probe") => continue,
                other => return other,
            }
        }
    }

    /// Sends probes from `from` until one is heard: the listener's `LISTEN`
    /// has run.
    fn until_listening(
        rt: &tokio::runtime::Runtime,
        from: &PgStore,
        heard: &mut tokio::sync::mpsc::UnboundedReceiver<Heard>,
    ) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for n in 0.. {
            assert!(Instant::now() < deadline, "never heard a probe");
            let probe = format!("probe {n}");
            from.fanout().unwrap().send(probe.clone());
            let wait = Duration::from_millis(200);
            while let Ok(Some(h)) =
                rt.block_on(async { tokio::time::timeout(wait, heard.recv()).await })
            {
                if h == Heard::Message(probe.clone()) {
                    return;
                }
            }
        }
    }

    #[test]
    fn every_process_hears_what_one_sent_and_after_a_restart_hears_again_and_is_told_it_missed() {
        // A cluster of the test's own: it is restarted.
        let Some(cluster) = cluster::private() else {
            return;
        };
        let url = cluster.database();
        let one = PgStore::open(&url).unwrap();
        let two = PgStore::open(&url).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut heard = [
            one.fanout().unwrap().listen(),
            two.fanout().unwrap().listen(),
        ];
        for h in &mut heard {
            until_listening(&rt, &two, h);
        }
        // Sent together, they go out in one transaction, in order, to
        // every listener, the sender's own included.
        let fanout = two.fanout().unwrap();
        for m in ["a", "b", "c"] {
            fanout.send(m.to_owned());
        }
        assert!(fanout.flush(Duration::from_secs(10)));
        for h in &mut heard {
            for m in ["a", "b", "c"] {
                assert_eq!(
                    next(&rt, h, Duration::from_secs(10)),
                    Some(Heard::Message(m.to_owned()))
                );
            }
        }
        // The longest message a change may take travels whole.
        let long = "x".repeat(crate::store::fanout::MAX_MESSAGE);
        one.fanout().unwrap().send(long.clone());
        assert_eq!(
            next(&rt, &mut heard[1], Duration::from_secs(10)),
            Some(Heard::Message(long))
        );

        cluster.restart().unwrap();
        let back = Instant::now();
        for h in &mut heard {
            loop {
                match next(&rt, h, Duration::from_secs(30)) {
                    Some(Heard::Missed) => break,
                    Some(Heard::Message(m)) if m.starts_with('x') => continue,
                    other => panic!("{other:?}"),
                }
            }
        }
        eprintln!(
            "listening again {:?} after the database was back",
            back.elapsed()
        );
        // The sender's pooled connection died with the restart: the send
        // goes out on a fresh one.
        fanout.send("after".to_owned());
        assert!(fanout.flush(Duration::from_secs(10)));
        for h in &mut heard {
            assert_eq!(
                next(&rt, h, Duration::from_secs(10)),
                Some(Heard::Message("after".to_owned()))
            );
        }
    }
}
