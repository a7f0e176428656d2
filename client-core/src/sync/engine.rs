//! The sync conversation as a state machine with no network IO: it is fed the
//! server's answers and the store, and says what to send next or that it is
//! done. The transport only carries its messages, so every rule about what is
//! committed when can be tested without a socket.
//!
//! Hello → FetchReference (only when the server announces other versions than
//! the cached ones) → FetchCells (pages of the grid cells the device holds,
//! only when the layer or the user's scope changed; `cells.rs`) → Push (the outbox in order, batch by batch) → Pull (pages
//! from the stored cursor while the server says there are more) → Done.

use std::collections::{HashMap, HashSet, VecDeque};

use gridwarden_protocol::{
    hlc, Ack, ClientMessage, Cursor, ErrorCode, FetchReference, Hlc, HlcClock, Op, OpBody,
    OpResult, Outcome, Pull, PullPage, Push, Record, Reference, ReportOp, ReportState,
    ServerMessage, Welcome,
};
use rusqlite::Transaction;
use uuid::Uuid;

use super::SyncSummary;
use crate::error::{code_name, ClientError, Result};
use crate::link::message_name;
use crate::store::outbox::{self, Queued};
use crate::store::photos::{self, PhotoState};
use crate::store::rejections::{self, Rejection};
use crate::store::reports::{self, LocalCell};
use crate::store::{cases, given, meta, overwrites, reference, Store};
use gridwarden_protocol::clock::SharedClock;

/// Most ops in one push: as many as a pulled page holds (`PULL_MAX_RECORDS`).
/// Each push is one commit on the server, and a commit writes every index
/// page its ops touched; 500 a push made the server write those pages twice
/// as often (ADR 0044). Most encoded op bytes in one push, well below the
/// frame limit. Both are the protocol's, so the server can check that its
/// limits let a full push through.
pub use gridwarden_protocol::{MAX_PUSH_BYTES, MAX_PUSH_OPS};
/// Page size asked of the server.
pub const PULL_MAX_RECORDS: u32 = 1000;
pub const PULL_MAX_BYTES: u32 = 1024 * 1024;
/// How far ahead of this device's estimate of the server's time a pulled
/// clock may be and still be folded into the device's HLC: half the drift
/// bound, so the device's next stamps stay inside what the server accepts
/// (ADR 0013). A stamp further ahead came from a clock that was wrong; the
/// device's later edits are not dragged after it.
pub const MAX_SERVER_SKEW_MS: u64 = gridwarden_protocol::hlc::MAX_DRIFT_MS / 2;

/// Pushes a pipelining link keeps in flight at once: the next batch is on
/// the wire while the server applies the one before. Beyond a
/// few, a batch only waits longer in the server's queue.
pub const PUSH_WINDOW: usize = 3;

/// What the transport should do next.
#[derive(Debug)]
pub enum Step {
    Send(ClientMessage),
    /// Nothing new to send: the answer to a request already in flight
    /// comes next (only after [`SyncEngine::ahead`] or
    /// [`SyncEngine::page_ahead`] gave one).
    Await,
    Done(SyncSummary),
}

#[derive(Debug)]
enum Phase {
    AwaitWelcome,
    /// `announced` holds the versions from Welcome; `None` right after
    /// enrolment, when everything is fetched unconditionally.
    AwaitReference {
        announced: Option<(u64, u64)>,
    },
    /// The ops of each push in flight, by op id, oldest first: answers
    /// come back in the order the pushes were sent.
    AwaitAck {
        in_flight: VecDeque<HashMap<Uuid, Queued>>,
    },
    AwaitPage {
        cursor: Cursor,
    },
    /// Pages of grid cells.
    AwaitCells,
    Done,
}

impl Phase {
    fn expecting(&self) -> &'static str {
        match self {
            Phase::AwaitWelcome => "Welcome",
            Phase::AwaitReference { .. } => "Reference",
            Phase::AwaitAck { .. } => "Ack",
            Phase::AwaitPage { .. } => "PullPage",
            Phase::AwaitCells => "CellPage",
            Phase::Done => "nothing",
        }
    }
}

#[derive(Debug)]
pub struct SyncEngine {
    phase: Phase,
    /// Clock node of this device, for observing server clocks.
    node: u64,
    /// Outbox position already sent in this sync. Ops the server left out of
    /// an ack stay queued for the next sync instead of being re-sent in a loop.
    last_pushed_seq: i64,
    /// False for the short conversation right after enrolment.
    push_and_pull: bool,
    clock: SharedClock,
    /// Ops re-stamped in this sync after a clock-skew refusal; refused again,
    /// they are rejections like any other (no loop).
    restamped: HashSet<Uuid>,
    /// How far ahead of the server's time this device's estimate was when
    /// the Welcome came (negative: behind): ops stamped since the previous
    /// hello carry this error, and a re-stamp takes it off.
    stamp_error_ms: i64,
    /// Overwrite notices of the page being stored, counted once committed.
    noticed: Vec<overwrites::Overwrite>,
    summary: SyncSummary,
    /// The grid download this sync needs once reference data is current:
    /// the announced layer version and the user's scope.
    cells: Option<cells::Wanted>,
    cell_pages: u32,
    /// The cursor of the pull already sent for the page after the one
    /// being stored ([`SyncEngine::page_ahead`]).
    pulled_ahead: Option<Cursor>,
    /// This sync pulls from the start of the feed: the device holds
    /// (nearly) nothing the pages bring.
    from_start: bool,
    /// The client name a `Hello` of this sync carries.
    client: String,
    /// Whether the server's session and the device's estimate of its time
    /// are known current: a Welcome came in this sync, or this sync sent no
    /// `Hello` because the last one on its kept connection is recent
    /// ([`SyncEngine::start_welcomed`], ADR 0041).
    hello_sent: bool,
    /// A push of a sync without a `Hello` had ops refused for clock skew:
    /// they stay queued, and once the pushes in flight are answered the
    /// sync says `Hello`, so the refused ops are stamped again with the
    /// estimate the Welcome corrects, as in any sync.
    renew: bool,
}

impl SyncEngine {
    fn new(phase: Phase, node: u64, push_and_pull: bool, clock: SharedClock) -> Self {
        Self {
            clock,
            restamped: Default::default(),
            noticed: Vec::new(),
            stamp_error_ms: 0,
            phase,
            node,
            last_pushed_seq: 0,
            push_and_pull,
            summary: SyncSummary::default(),
            cells: None,
            cell_pages: 0,
            pulled_ahead: None,
            from_start: false,
            client: String::new(),
            hello_sent: true,
            renew: false,
        }
    }

    /// Begins a sync of an enrolled device: the engine and its Hello.
    pub fn start(
        store: &Store,
        client_name: &str,
        clock: SharedClock,
    ) -> Result<(Self, ClientMessage)> {
        let hello = super::hello(store.conn(), client_name)?;
        let mut engine = Self::new(
            Phase::AwaitWelcome,
            hlc::node_id(hello.device_id),
            true,
            clock,
        );
        engine.client = client_name.to_owned();
        Ok((engine, ClientMessage::Hello(hello)))
    }

    /// Begins a sync on a kept connection whose server session a recent
    /// `Hello` renewed (ADR 0041): straight to the push, or to the pull when
    /// nothing is queued. What a Welcome brings (the user's cells, reference
    /// versions, the server's time) is what the last one brought; the next
    /// sync after the renewal period says `Hello` again.
    pub fn start_welcomed(
        store: &mut Store,
        client_name: &str,
        clock: SharedClock,
    ) -> Result<(Self, ClientMessage)> {
        let enrolment = meta::enrolment(store.conn())?.ok_or(ClientError::NotEnrolled)?;
        let mut engine = Self::new(Phase::Done, hlc::node_id(enrolment.device_id), true, clock);
        engine.client = client_name.to_owned();
        engine.hello_sent = false;
        // What the last Welcome said of the protocol's deadline, for the app
        // that shows it after every sync.
        engine.summary.update_required_by_ms = meta::update_required_by_ms(store.conn())?;
        match engine.next_push(store)? {
            Step::Send(first) => Ok((engine, first)),
            other => Err(ClientError::Protocol(format!(
                "a sync without a Hello began with {other:?}"
            ))),
        }
    }

    /// Continues a just-enrolled connection: fetches all reference data so
    /// the device works offline at once, then stops.
    pub fn after_enrolment(device_id: Uuid, clock: SharedClock) -> (Self, ClientMessage) {
        let mut engine = Self::new(
            Phase::AwaitReference { announced: None },
            hlc::node_id(device_id),
            false,
            clock,
        );
        engine.cells = Some(cells::Wanted::current());
        let fetch = FetchReference {
            categories_version: None,
            grid_version: None,
        };
        (engine, ClientMessage::FetchReference(fetch))
    }

    /// What this sync has durably done so far.
    pub fn summary(&self) -> &SyncSummary {
        &self.summary
    }

    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// Feeds the server's answer to the last message sent.
    pub fn handle(&mut self, store: &mut Store, message: ServerMessage) -> Result<Step> {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        match (phase, message) {
            // Reference data the server cannot send now (a table it cannot
            // read, a page too large) must not hold the records back: the
            // push goes on with what the device has cached, the failure is
            // reported, and the next sync asks again.
            (Phase::AwaitReference { .. }, ServerMessage::Error(e)) if self.push_and_pull => {
                self.reference_failed("categories", e);
                self.after_reference(store)
            }
            (Phase::AwaitCells, ServerMessage::Error(e)) if self.push_and_pull => {
                self.reference_failed("grid cells", e);
                self.next_push(store)
            }
            (_, ServerMessage::Error(e)) => Err(ClientError::Refused {
                code: e.code,
                message: e.message,
            }),
            (Phase::AwaitWelcome, ServerMessage::Welcome(w)) => self.on_welcome(store, w),
            (Phase::AwaitReference { announced }, ServerMessage::Reference(r)) => {
                self.on_reference(store, announced, r)
            }
            (Phase::AwaitAck { in_flight }, ServerMessage::Ack(ack)) => {
                self.on_ack(store, in_flight, ack)
            }
            (Phase::AwaitPage { cursor }, ServerMessage::PullPage(page)) => {
                self.on_page(store, cursor, page)
            }
            (Phase::AwaitCells, ServerMessage::CellPage(page)) => self.on_cells(store, page),
            (phase, other) => Err(ClientError::Protocol(format!(
                "the server answered {} while this device waited for {}",
                message_name(&other),
                phase.expecting()
            ))),
        }
    }

    fn reference_failed(&mut self, what: &str, e: gridwarden_protocol::ErrorMessage) {
        tracing::warn!(what, code = ?e.code, reason = %e.message, "reference data not fetched; pushing all the same");
        let error = ClientError::Refused {
            code: e.code,
            message: e.message,
        };
        self.summary
            .reference_errors
            .push(format!("{what} not updated: {error}"));
    }

    fn on_welcome(&mut self, store: &mut Store, w: Welcome) -> Result<Step> {
        let tx = store.transaction()?;
        self.stamp_error_ms =
            crate::local::server_now(&tx, &*self.clock)? as i64 - w.server_time_ms as i64;
        meta::set_identity(&tx, &w.user, w.role)?;
        meta::set_cells(&tx, &w.cells)?;
        // Half the round trip is the error of this estimate: far below the
        // server's tolerance, far above nothing for a phone set to last year.
        meta::set_clock_offset_ms(&tx, self.clock.now_ms() as i64 - w.server_time_ms as i64)?;
        // And the clock no one can set, so that time counted from here holds
        // even if the wall clock is changed before the next sync.
        let anchor = self.clock.since_boot().map(|at| crate::time::Anchor {
            server_ms: w.server_time_ms,
            at,
        });
        meta::set_clock_anchor(&tx, anchor)?;
        let update_by = w
            .update_required_by_ms
            .map(|ms| ms.min(i64::MAX as u64) as i64);
        meta::set_update_required_by_ms(&tx, update_by)?;
        self.summary.update_required_by_ms = update_by;
        self.summary.given_back = epoch::on_welcome(&tx, &w, self.node)?;
        let cached_categories = meta::categories_version(&tx)?;
        let cached_grid = meta::grid_version(&tx)?;
        self.cells = cells::Wanted::after_welcome(&tx, &w)?;
        tx.commit()?;
        if cached_categories != Some(w.categories_version) {
            self.phase = Phase::AwaitReference {
                announced: Some((w.categories_version, w.grid_version)),
            };
            let fetch = FetchReference {
                categories_version: cached_categories,
                grid_version: cached_grid,
            };
            return Ok(Step::Send(ClientMessage::FetchReference(fetch)));
        }
        self.after_reference(store)
    }

    fn on_reference(
        &mut self,
        store: &mut Store,
        announced: Option<(u64, u64)>,
        r: Reference,
    ) -> Result<Step> {
        let tx = store.transaction()?;
        match r.categories {
            Some(table) => {
                reference::put_categories(&tx, &table)?;
                meta::set_categories_version(&tx, table.version)?;
                self.summary.categories_updated = true;
            }
            // No table for a device that has none: the server has none
            // either. Remember the announced version so we stop asking.
            None => {
                if let (None, Some((v, _))) = (meta::categories_version(&tx)?, announced) {
                    meta::set_categories_version(&tx, v)?;
                }
            }
        }
        // Servers since FetchCells never send a layer here; an older one
        // that does gives the whole layer, kept as such.
        if let Some(layer) = r.grid {
            crate::store::grid_cells::put_whole_layer(&tx, &layer)?;
            meta::set_grid_version(&tx, layer.version)?;
            self.summary.grid_updated = true;
            self.cells = None;
        }
        tx.commit()?;
        self.after_reference(store)
    }

    /// Grid cells when they are wanted, then the push (or the end of the
    /// short conversation after enrolment).
    fn after_reference(&mut self, store: &mut Store) -> Result<Step> {
        if let Some(wanted) = self.cells.take() {
            return self.start_cells(store, wanted);
        }
        if self.push_and_pull {
            self.next_push(store)
        } else {
            self.finish(store)
        }
    }

    fn next_push(&mut self, store: &mut Store) -> Result<Step> {
        match self.next_batch(store)? {
            Some((sent, push)) => {
                self.phase = Phase::AwaitAck {
                    in_flight: VecDeque::from([sent]),
                };
                Ok(Step::Send(push))
            }
            None => {
                let cursor = meta::pull_cursor(store.conn())?;
                self.from_start = cursor == Cursor::start();
                Ok(self.pull(cursor))
            }
        }
    }

    /// Another push to send before the answer to the ones in flight, on a
    /// link that keeps several requests in flight (`None`: not pushing, or
    /// nothing more queued). The server applies a connection's pushes in the
    /// order they were sent, and their acks are committed here in that
    /// order; an op whose ack never comes stays queued and goes again.
    pub fn ahead(&mut self, store: &mut Store) -> Result<Option<ClientMessage>> {
        if self.renew || !matches!(self.phase, Phase::AwaitAck { .. }) {
            return Ok(None);
        }
        let Some((sent, push)) = self.next_batch(store)? else {
            return Ok(None);
        };
        if let Phase::AwaitAck { in_flight } = &mut self.phase {
            in_flight.push_back(sent);
        }
        Ok(Some(push))
    }

    /// The pull of the next page, to send before `answer` (a page just
    /// received) is stored, on a link that keeps several requests in flight:
    /// the server reads and packs the next page while this device stores
    /// the current one. `None` when `answer` is not a page with more after
    /// it. Pulls change nothing on the server, so a page whose storing
    /// fails only leaves an answer nobody reads.
    pub fn page_ahead(&mut self, answer: &ServerMessage) -> Option<ClientMessage> {
        let (Phase::AwaitPage { cursor: asked }, ServerMessage::PullPage(page)) =
            (&self.phase, answer)
        else {
            return None;
        };
        // A page that neither holds records nor moves the cursor is the
        // server's error, found in `on_page`; asking again would loop.
        if !page.more || (page.records.is_empty() && &page.cursor == asked) {
            return None;
        }
        self.pulled_ahead = Some(page.cursor.clone());
        Some(pull_message(page.cursor.clone()))
    }

    /// The next batch of the outbox after what this sync already sent.
    fn next_batch(
        &mut self,
        store: &mut Store,
    ) -> Result<Option<(HashMap<Uuid, Queued>, ClientMessage)>> {
        // An op goes out only once it is on the storage: a power cut can
        // then never lose an op the server holds (ADR 0026).
        store.flush_to_storage();
        let batch = outbox::batch_after(
            store.conn(),
            self.last_pushed_seq,
            MAX_PUSH_OPS,
            MAX_PUSH_BYTES,
        )?;
        let Some(last) = batch.last() else {
            return Ok(None);
        };
        self.last_pushed_seq = last.seq;
        let sent = batch.iter().map(|q| (q.op.op_id, q.clone())).collect();
        let ops = batch.into_iter().map(|q| q.op).collect();
        Ok(Some((sent, ClientMessage::Push(Push { ops }))))
    }

    fn on_ack(
        &mut self,
        store: &mut Store,
        mut in_flight: VecDeque<HashMap<Uuid, Queued>>,
        ack: Ack,
    ) -> Result<Step> {
        let sent = in_flight
            .pop_front()
            .expect("a push is in flight while its ack is awaited");
        let (mut applied, mut duplicates, mut refused) = (0, 0, Vec::new());
        let mut photos_refused = Vec::new();
        let mut apart = Vec::new();
        let now = self.clock.now_ms() as i64;
        let tx = store.transaction()?;
        let me = meta::enrolment(&tx)?.ok_or(ClientError::NotEnrolled)?;
        let skewed = |r: &OpResult| {
            matches!(
                &r.outcome,
                Outcome::Rejected {
                    code: ErrorCode::ClockSkew,
                    ..
                }
            ) && !self.restamped.contains(&r.op_id)
        };
        // Without a Welcome in this sync, the device's estimate of the
        // server's time may be what went wrong: the refused ops stay queued
        // until the sync has said Hello.
        let welcomed = self.hello_sent;
        let mut restamp_clock = None;
        if welcomed && ack.results.iter().any(skewed) {
            // Every op stamped with the runaway clock is refused and applied
            // nowhere, so the clock may step back, once, before the refused
            // ops are stamped again in their order.
            let corrected = crate::local::server_now(&tx, &*self.clock)?;
            restamp_clock = Some((
                HlcClock::resume(Hlc::new(0, 0, self.node), self.node),
                corrected,
            ));
        }
        // The time of the edit: the estimate of the server's time the op was
        // made with, less the error that estimate is now known to have had (a
        // wrong server clock at the last hello, a wall clock that jumped).
        // Not the op's clock: that may sit after a runaway clock the device
        // saw, and a re-stamp at the resend would let an edit win over a
        // later one of another device. Ops queued before the estimate was
        // kept fall back to their clock, or to the time of this sync.
        let error = self.stamp_error_ms;
        let known_error = error > (gridwarden_protocol::hlc::MAX_DRIFT_MS / 2) as i64;
        let restamp_time = |q: &Queued, corrected: u64| {
            let at_edit = match q.estimate_ms {
                Some(estimate) if known_error => estimate as i64 - error,
                Some(estimate) => estimate as i64,
                None if known_error => q.op.hlc.wall_ms as i64 - error,
                None => corrected as i64,
            };
            at_edit.clamp(0, corrected as i64) as u64
        };
        let mut restamped = Vec::new();
        let mut acks = given::Acks::prepare(&tx)?;
        for result in &ack.results {
            let Some(queued) = sent.get(&result.op_id) else {
                tracing::warn!(op = %result.op_id, "ack names an op that was not pushed; ignored");
                continue;
            };
            if !welcomed && skewed(result) {
                self.renew = true;
                continue;
            }
            let op = &queued.op;
            let report_id = outbox::subject(op);
            // Gone already means another sync of this home committed it.
            acks.remove(result.op_id)?;
            match &result.outcome {
                Outcome::Applied | Outcome::Duplicate => {
                    confirm_own_op(&tx, &mut acks, queued)?;
                    if matches!(result.outcome, Outcome::Applied) {
                        applied += 1;
                    } else {
                        duplicates += 1;
                    }
                }
                Outcome::Rejected { .. } if skewed(result) => {
                    // Queue the same change again, stamped with the corrected
                    // clock under a new op id, and rebuild the local copy.
                    let (clock, corrected) =
                        restamp_clock.as_mut().expect("set when any op is skewed");
                    let mut body = op.body.clone();
                    if known_error {
                        // The times the device read from the same wrong
                        // clock are off by the same error.
                        shift_observed_times(&mut body, -error);
                    }
                    let at = restamp_time(queued, *corrected);
                    let again = Op {
                        op_id: Uuid::now_v7(),
                        hlc: clock.tick(at),
                        body,
                    };
                    outbox::append(&tx, &again, at)?;
                    if matches!(op.body, OpBody::Report { .. }) {
                        rebuild(&tx, report_id, &me)?;
                    }
                    restamped.push(again.op_id);
                }
                Outcome::Rejected { code, reason } => {
                    roll_back(&tx, op, &me)?;
                    for photo in attached_photos(op).unwrap_or_default() {
                        photos::set_state(&tx, photo.hash, PhotoState::Refused, Some(reason))?;
                    }
                    let attached = attached_photos(op).unwrap_or_default();
                    if photo_too_large(op, *code) && attached.len() > 1 {
                        // Which one was too large the answer does not say:
                        // each goes again alone (`local::photos::attach_apart`).
                        apart.push((report_id, attached.to_vec()));
                        continue;
                    }
                    let r = Rejection {
                        op_id: result.op_id,
                        report_id,
                        code: code_name(*code).to_owned(),
                        reason: reason.clone(),
                        at_ms: now,
                    };
                    rejections::insert(&tx, &r)?;
                    if photo_too_large(op, *code) {
                        // The report stands without the photo: the refusal
                        // is the photo's, listed but not the report's status
                        // (`store::reports`), and its file goes
                        // (`local::photos::drop_too_large`).
                        photos_refused.push(reason.clone());
                        continue;
                    }
                    refused.push(r);
                }
            }
        }
        drop(acks);
        if ack.results.len() < sent.len() {
            tracing::warn!(
                missing = sent.len() - ack.results.len(),
                "ack left ops out; they stay queued for the next sync"
            );
        }
        if let Some((clock, _)) = restamp_clock {
            meta::set_last_hlc(&tx, clock.last())?;
        }
        self.observe(&tx, ack.server_hlc)?;
        for (report_id, photos) in apart {
            crate::local::photos::attach_apart(&tx, &*self.clock, report_id, &photos)?;
        }
        tx.commit()?;
        self.restamped.extend(restamped);
        // Counted only once committed: the summary reports what is durable.
        self.summary.pushed += applied;
        self.summary.duplicates += duplicates;
        self.summary.rejected.extend(refused);
        self.summary.photos_refused.extend(photos_refused);
        if !in_flight.is_empty() {
            self.phase = Phase::AwaitAck { in_flight };
            return Ok(Step::Await);
        }
        if std::mem::take(&mut self.renew) {
            return self.hello_again(store);
        }
        self.next_push(store)
    }

    /// Says `Hello` in the middle of a sync that began without one: the
    /// Welcome corrects the estimate of the server's time, and the push
    /// starts again from the ops still queued.
    fn hello_again(&mut self, store: &Store) -> Result<Step> {
        tracing::info!("ops refused for clock skew in a sync without a Hello; saying Hello");
        let hello = super::hello(store.conn(), &self.client)?;
        self.hello_sent = true;
        self.last_pushed_seq = 0;
        self.phase = Phase::AwaitWelcome;
        Ok(Step::Send(ClientMessage::Hello(hello)))
    }

    fn pull(&mut self, cursor: Cursor) -> Step {
        self.phase = Phase::AwaitPage {
            cursor: cursor.clone(),
        };
        Step::Send(pull_message(cursor))
    }

    fn on_page(&mut self, store: &mut Store, asked: Cursor, page: PullPage) -> Result<Step> {
        self.noticed.clear();
        let tx = store.transaction()?;
        let mut newest = Hlc::ZERO;
        // Reports and out-of-scope notices: a case travels with its report.
        let count = page
            .records
            .iter()
            .filter(|r| !matches!(r, Record::Case(_)))
            .count() as u64;
        // From the start of the feed (a new device's first pull) nearly
        // every report is new: its insert's own conflict check replaces a
        // lookup. Later pages mostly change reports held here: looked up
        // first, with no state encoded for an insert that would not happen.
        let initial = self.from_start;
        // This device's enrolment, read at the first report held here.
        let mut me = None;
        for record in &page.records {
            match record {
                Record::Report(incoming) => {
                    // A report this device does not hold is one insert; one
                    // it holds is merged, never replaced: local ops not yet
                    // pushed must survive, and the merge is a join so order
                    // is irrelevant.
                    if initial && reports::insert_pulled_if_new(&tx, incoming)? {
                        newest = newest.max(incoming.max_hlc());
                        continue;
                    }
                    if me.is_none() {
                        me = Some(meta::enrolment(&tx)?);
                    }
                    let enrolled = me.as_ref().and_then(Option::as_ref);
                    match reports::states(&tx, incoming.id, enrolled)? {
                        Some(reports::Held {
                            mut local,
                            confirmed,
                            unfolded,
                        }) => {
                            let before = writes_of(&local, self.node).then(|| local.clone());
                            local.merge(incoming);
                            if let Some(before) = before {
                                self.notice_overwrites(&tx, &before, &local)?;
                            }
                            let confirmed = match confirmed {
                                Some(mut known) => {
                                    known.merge(incoming);
                                    known
                                }
                                None => incoming.clone(),
                            };
                            reports::update_merged(&tx, &local, &confirmed, unfolded)?;
                        }
                        None => reports::insert_pulled(&tx, incoming)?,
                    }
                    newest = newest.max(incoming.max_hlc());
                }
                Record::OutOfScope { report_id } => {
                    reports::forget(&tx, *report_id)?;
                    cases::forget(&tx, *report_id)?;
                }
                Record::Case(case) => {
                    if !cases::insert_if_new(&tx, case)? {
                        cases::merge(&tx, case)?
                    }
                }
            }
        }
        meta::set_pull_cursor(&tx, &page.cursor)?;
        if newest > Hlc::ZERO {
            self.observe(&tx, newest)?;
        }
        if !page.more {
            // The sync is whole with this page: said in its transaction,
            // not in one more commit.
            meta::set_last_sync_ms(&tx, self.clock.now_ms() as i64)?;
        }
        tx.commit()?;
        self.summary.pulled += count;
        self.summary.overwritten.append(&mut self.noticed);
        if !page.more {
            return self.finish(store);
        }
        if page.records.is_empty() && page.cursor == asked {
            return Err(ClientError::Protocol(
                "the server said more records wait but sent none and did not move the cursor"
                    .into(),
            ));
        }
        if self.pulled_ahead.take().as_ref() == Some(&page.cursor) {
            self.phase = Phase::AwaitPage {
                cursor: page.cursor,
            };
            return Ok(Step::Await);
        }
        Ok(self.pull(page.cursor))
    }

    /// Keeps a notice for each of this device's writes in `before` that the
    /// merge into `after` replaced with another device's.
    fn notice_overwrites(
        &mut self,
        tx: &Transaction,
        before: &ReportState,
        after: &ReportState,
    ) -> Result<()> {
        let steps = || -> Result<Vec<(String, Uuid)>> {
            Ok(cases::get(tx, after.id)?
                .map(|c| c.history.into_iter().map(|t| (t.by, t.device)).collect())
                .unwrap_or_default())
        };
        let found = overwrites::detect(before, after, self.node, self.clock.now_ms() as i64);
        if found.is_empty() {
            return Ok(());
        }
        let steps = steps()?;
        for (mut notice, lost) in found {
            notice.winner_by = overwrites::name_of(notice.winner_node, Some(after), &steps);
            if overwrites::insert(tx, &notice, lost)? {
                self.noticed.push(notice);
            }
        }
        Ok(())
    }

    /// Folds a server clock into the device's persisted HLC, so that later
    /// local edits order after what the device has seen.
    fn observe(&self, tx: &Transaction, remote: Hlc) -> Result<()> {
        let mut clock = HlcClock::resume(meta::last_hlc(tx)?, self.node);
        // The time local ops are stamped with: the device's estimate of the
        // server's time. The raw clock of a phone set a year ahead would
        // carry the HLC, and every later local op, a year ahead.
        let now = crate::local::server_now(tx, &*self.clock)?;
        match clock.observe(remote, now, MAX_SERVER_SKEW_MS) {
            Ok(()) => meta::set_last_hlc(tx, clock.last()),
            Err(skew) => {
                tracing::warn!(%skew, "server clock ignored");
                Ok(())
            }
        }
    }

    fn finish(&mut self, store: &mut Store) -> Result<Step> {
        self.summary.pending = outbox::len(store.conn())?;
        self.phase = Phase::Done;
        Ok(Step::Done(std::mem::take(&mut self.summary)))
    }
}

mod cells;
mod epoch;
#[cfg(test)]
mod tests;

/// Moves the times a user observed in `body` (a report's observation, a
/// patrol's start, end and points) by `by_ms`.
fn pull_message(cursor: Cursor) -> ClientMessage {
    ClientMessage::Pull(Pull {
        cursor,
        max_records: PULL_MAX_RECORDS,
        max_bytes: PULL_MAX_BYTES,
    })
}

fn shift_observed_times(body: &mut OpBody, by_ms: i64) {
    use gridwarden_protocol::PatrolOp;
    match body {
        OpBody::Report {
            op: ReportOp::Create(new),
            ..
        } => new.observed_at_ms = new.observed_at_ms.saturating_add(by_ms),
        OpBody::Patrol { op, .. } => match op {
            PatrolOp::Start(start) => {
                start.started_at_ms = start.started_at_ms.saturating_add(by_ms)
            }
            PatrolOp::Stop { ended_at_ms } => *ended_at_ms = ended_at_ms.saturating_add(by_ms),
            PatrolOp::Points(points) => {
                for t in points.iter_mut().filter_map(|p| p.time_ms.as_mut()) {
                    *t = t.saturating_add(by_ms);
                }
            }
        },
        _ => {}
    }
}

/// Whether any field of `state` holds a write of clock node `node`.
fn writes_of(state: &ReportState, node: u64) -> bool {
    [
        state.category.as_ref().map(|l| l.hlc.node),
        state.note.as_ref().map(|l| l.hlc.node),
        state.location.as_ref().map(|l| l.hlc.node),
        state.address.as_ref().map(|l| l.hlc.node),
    ]
    .contains(&Some(node))
}

/// Whether `op` is a report's photo attach refused for a photo too large.
fn photo_too_large(op: &Op, code: ErrorCode) -> bool {
    code == ErrorCode::PhotoTooLarge
        && matches!(
            op.body,
            OpBody::Report {
                op: ReportOp::AttachPhotos(_),
                ..
            }
        )
}

/// The photos an op attaches, if it is an attach.
fn attached_photos(op: &Op) -> Option<&[gridwarden_protocol::PhotoRef]> {
    match &op.body {
        OpBody::Report {
            op: ReportOp::AttachPhotos(photos),
            ..
        } => Some(photos),
        // Photos taken at a case step (a disposal, a verification).
        OpBody::Case { op, .. } if !op.photos().is_empty() => Some(op.photos()),
        _ => None,
    }
}

/// The server applied `op`: what it holds of the report now includes it,
/// and photos it attached may now be uploaded. The op is kept (for a server
/// restored from a backup that lacks it, `epoch.rs`), and that one row is
/// also how the report's confirmed state learns of it
/// (`reports::confirmed`): the report row is not rewritten per ack.
fn confirm_own_op(
    tx: &Transaction,
    acks: &mut given::Acks<'_>,
    queued: &outbox::Queued,
) -> Result<()> {
    acks.keep(queued)?;
    if let Some(attached) = attached_photos(&queued.op) {
        photos::mark_ready(tx, attached)?;
    }
    Ok(())
}

/// The server refused `op` (already out of the outbox): rebuild the visible
/// state from what the server holds plus the ops still queued, so the refused
/// change disappears and replicas converge. A refused create has nothing on
/// the server to fall back to; it stays on this device, shown as rejected.
fn roll_back(tx: &Transaction, op: &Op, me: &meta::Enrolment) -> Result<()> {
    if !matches!(op.body, OpBody::Report { .. }) {
        // A refused patrol op leaves the patrol on this device as recorded.
        return Ok(());
    }
    let report_id = outbox::subject(op);
    if reports::confirmed(tx, report_id)?.is_none() {
        return Ok(());
    }
    rebuild(tx, report_id, me)
}

/// The visible state of a report rebuilt as what the server holds joined
/// with the ops still queued.
fn rebuild(tx: &Transaction, report_id: Uuid, me: &meta::Enrolment) -> Result<()> {
    let mut view =
        reports::confirmed(tx, report_id)?.unwrap_or_else(|| ReportState::empty(report_id));
    for pending in outbox::ops_of(tx, report_id)? {
        if let Some(effect) = given::effect_of(&pending, me) {
            view.merge(&effect);
        }
    }
    reports::upsert(tx, &view, LocalCell::Keep)
}
