// The acceptance test of the Kotlin bindings: a warden's and a supervisor's
// phone, through the Kotlin that mobile-bindings/generate.sh writes and the
// Linux build of the library (loaded through JNA), against a real server,
// with coroutines as an app uses them: the async calls awaited from
// `runBlocking`/`launch`, the blocking ones on a worker thread
// (`Dispatchers.IO`). It also runs the examples of docs/mobile.md (docs/*.kt
// beside this file, compiled with it).
//
// Run by `cargo test --workspace` (tests/tests/e2e/kotlin.rs), which starts
// the server, adds the users, compiles this with kotlinc and passes:
//
//   GRIDWARDEN_TMP               a directory for the phones' homes and files
//   GRIDWARDEN_WARDEN_CODE       one-time enrolment code of the warden
//   GRIDWARDEN_SUPERVISOR_CODE   one-time enrolment code of the supervisor
//   GRIDWARDEN_CELL              a grid cell of the warden ...
//   GRIDWARDEN_CELL_LON/_LAT     ... and a point inside it
//
// The harness stops and starts the server when asked: this program prints
// `gridwarden-test: stop-server` (or `start-server`) and waits for the
// answer on stdin. It prints one `step ... ok` line per step and exits 0 only
// when every step passed.

import java.io.File
import java.io.RandomAccessFile
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.system.exitProcess
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import uniffi.gridwarden_mobile.CancelToken
import uniffi.gridwarden_mobile.CaseFilter
import uniffi.gridwarden_mobile.CaseStatus
import uniffi.gridwarden_mobile.CaseStep
import uniffi.gridwarden_mobile.ClientOptions
import uniffi.gridwarden_mobile.GeoPoint
import uniffi.gridwarden_mobile.GpsFix
import uniffi.gridwarden_mobile.GridwardenClient
import uniffi.gridwarden_mobile.GridwardenException
import uniffi.gridwarden_mobile.NewReport
import uniffi.gridwarden_mobile.PatrolQuery
import uniffi.gridwarden_mobile.Rejection
import uniffi.gridwarden_mobile.ReportChanges
import uniffi.gridwarden_mobile.ReportStatus
import uniffi.gridwarden_mobile.SyncListener
import uniffi.gridwarden_mobile.SyncOptions
import uniffi.gridwarden_mobile.SyncProgress

fun env(name: String): String =
    System.getenv(name)?.takeIf { it.isNotEmpty() }
        ?: error("$name is not set: this program is run by `cargo test -p gridwarden-e2e --test e2e kotlin`")

val ROOT = File(env("GRIDWARDEN_TMP"))
val CELL = env("GRIDWARDEN_CELL")
val LON = env("GRIDWARDEN_CELL_LON").toDouble()
val LAT = env("GRIDWARDEN_CELL_LAT").toDouble()
const val CATEGORY = "0101"

// A short handshake wait: a stopped server is noticed by timeout (QUIC
// ignores ICMP), and the offline steps wait for it.
val OPTIONS = ClientOptions(connectTimeoutMs = 2_000)

// The smallest files the photo store takes: JPEG magic bytes, then filler
// that tells the two photos apart.
fun jpeg(fill: Int): ByteArray =
    byteArrayOf(0xff.toByte(), 0xd8.toByte(), 0xff.toByte(), 0xe0.toByte()) +
        ByteArray(2048) { (it * fill).toByte() } +
        byteArrayOf(0xff.toByte(), 0xd9.toByte())

fun check(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

fun <T> checkEqual(actual: T, expected: T, what: String) =
    check(actual == expected) { "$what: expected $expected, got $actual" }

/** Runs `block`, which must throw `E` whose message contains `part`. */
inline fun <reified E : GridwardenException> expect(part: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: GridwardenException) {
        check(e is E) { "expected ${E::class.simpleName}, got ${e::class.simpleName}: ${e.message}" }
        val message = e.message.orEmpty()
        check(part in message) { "the ${E::class.simpleName} says `$message`, not `$part`" }
        return e as E
    }
    throw AssertionError("expected ${E::class.simpleName} (`$part`), but the call succeeded")
}

/** Asks the harness (which owns the server) to do something and waits. */
fun control(request: String, answer: String) {
    println("gridwarden-test: $request")
    System.out.flush()
    val got = readlnOrNull()?.trim()
    checkEqual(got, answer, "the harness's answer to $request")
}

fun here(note: String = "", photos: List<String> = listOf()) =
    NewReport(
        category = CATEGORY,
        location = GeoPoint(lon = LON, lat = LAT, accuracyM = 5.0f),
        note = note,
        photoPaths = photos,
    )

/** Keeps what a sync says; signals the first event `wakeOn` accepts. */
class Recorder(private val wakeOn: (SyncProgress) -> Boolean = { false }) : SyncListener {
    val events = ConcurrentLinkedQueue<SyncProgress>()
    val woken = CompletableDeferred<Unit>()

    override fun onProgress(progress: SyncProgress) {
        events.add(progress)
        if (wakeOn(progress)) woken.complete(Unit)
    }

    fun kinds(): List<String> = events.map { it::class.simpleName ?: "?" }
}

/** One step, timed. */
suspend fun step(name: String, body: suspend () -> Unit) {
    val start = System.nanoTime()
    body()
    println("step $name ok (${(System.nanoTime() - start) / 1_000_000} ms)")
}

/** The documented errors, by the variant they arrived as. */
val seen = mutableMapOf<String, Next>()

fun saw(e: GridwardenException, expected: Next) {
    // The docs' `when`: every variant leads to its own next step.
    checkEqual(nextStep(e), expected, "nextStep(${e::class.simpleName})")
    // A flat error: the message is the sentence, not a rendering of fields.
    val message = e.message.orEmpty()
    check(message.isNotBlank() && !message.startsWith("message=") && !message.startsWith("reason=")) {
        "${e::class.simpleName} carries `$message`"
    }
    seen[e::class.simpleName!!] = expected
}

fun main() {
    val outcome = runCatching { runBlocking { phones() } }
    outcome.exceptionOrNull()?.let {
        it.printStackTrace()
        System.err.flush()
        exitProcess(1)
    }
    println("gridwarden-kotlin: every step passed")
    // The clients' runtimes and JNA's cleaner are not daemon threads.
    exitProcess(0)
}

suspend fun phones() = kotlinx.coroutines.coroutineScope {
    val warden = GridwardenClient.openWithOptions(File(ROOT, "warden").path, OPTIONS)
    val supervisor = GridwardenClient.openWithOptions(File(ROOT, "supervisor").path, OPTIONS)
    lateinit var wardenUser: String

    step("enrol from a code: one on a worker thread, one awaited") {
        val wardenInfo = withContext(Dispatchers.IO) {
            warden.enrollBlocking(env("GRIDWARDEN_WARDEN_CODE"), "warden's phone")
        }
        val supervisorInfo = supervisor.enroll(env("GRIDWARDEN_SUPERVISOR_CODE"), "supervisor's phone")
        checkEqual(wardenInfo.role, "warden", "role")
        checkEqual(supervisorInfo.role, "supervisor", "role")
        check(wardenInfo.gridVersion != null) { "the grid layer was cached at enrolment" }
        wardenUser = wardenInfo.user
        check(warden.categories().any { it.code == CATEGORY }) { "categories cached" }
        checkEqual(warden.gridCellAt(LON, LAT), CELL, "the cell the phone is in")
        checkEqual(warden.gridCellAt(2.35, 48.85), null, "Paris is in no cell")
        val again = expect<GridwardenException.Rejected>("already enrolled") {
            warden.enrollBlocking(env("GRIDWARDEN_WARDEN_CODE"), "again")
        }
        saw(again, Next.CORRECT_INPUT)
    }

    step("the docs' client opens before enrolment; local refusals") {
        val fresh = openGridwarden(File(ROOT, "app-files"))
        fresh.use {
            check(!it.status().enrolled) { "a fresh home is not enrolled" }
            saw(expect<GridwardenException.NotEnrolled>("not enrolled") { it.recordReport(here()) }, Next.ENROL)
        }
        val nan = NewReport(category = CATEGORY, location = GeoPoint(lon = LON, lat = Double.NaN))
        saw(expect<GridwardenException.Rejected>("coordinates") { warden.recordReport(nan) }, Next.CORRECT_INPUT)
        val unknown = here().copy(category = "9999")
        expect<GridwardenException.Rejected>("unknown category `9999`") { warden.recordReport(unknown) }
        expect<GridwardenException.Rejected>("not a report id") { warden.showReport("no-such-report") }
        expect<GridwardenException.Rejected>("must be 0 or more") {
            warden.syncBlocking(SyncOptions(maxAttempts = -1))
        }
        // A home under a regular file cannot be created.
        val file = File(ROOT, "a-file").apply { writeText("not a directory") }
        saw(
            expect<GridwardenException.Storage>("") { GridwardenClient.open(File(file, "home").path) },
            Next.FREE_SPACE,
        )
        checkEqual(warden.status().outbox, 0L, "nothing refused was queued")
    }

    step("a home written by a newer app asks for an update, untouched") {
        val home = File(ROOT, "newer")
        GridwardenClient.openWithOptions(home.path, OPTIONS).close()
        // SQLite keeps `user_version` as a big-endian 32-bit integer at offset
        // 60 of the file's header; closed, the home has no write-ahead log.
        val db = RandomAccessFile(File(home, "client.db"), "rw")
        db.use { it.seek(60); it.writeInt(999) }
        saw(
            expect<GridwardenException.UpdateRequired>("newer gridwarden") {
                GridwardenClient.openWithOptions(home.path, OPTIONS)
            },
            Next.UPDATE_APP,
        )
        val version = RandomAccessFile(File(home, "client.db"), "r").use { it.seek(60); it.readInt() }
        checkEqual(version, 999, "the newer home was left as it was")
    }

    lateinit var cover: String
    lateinit var rubbish: String
    lateinit var patrol: String
    step("record reports, a patrol and photos with the server down") {
        control("stop-server", "stopped")
        val photo = File(ROOT, "cover.jpg").apply { writeBytes(jpeg(1)) }
        cover = warden.recordReport(here("井盖缺失 cover missing", listOf(photo.path)))
        patrol = warden.patrolStart("morning round")
        checkEqual(warden.runningPatrol(), patrol, "the patrol under way")
        val kept = (0 until 5).map { i ->
            warden.patrolAddPoint(
                GpsFix(lon = LON + i * 0.0003, lat = LAT, timeMs = 1_763_800_000_000 + i * 30_000L, accuracyM = 4f),
            )
        }
        check(kept.all { it }) { "fixes 25 m apart are all kept: $kept" }
        rubbish = warden.recordReport(here("rubbish by the road"))
        // A photo attached after recording, offline too.
        val second = File(ROOT, "rubbish.jpg").apply { writeBytes(jpeg(3)) }
        warden.attachPhotos(rubbish, listOf(second.path))
        checkEqual(warden.patrolStop(), patrol, "the stopped patrol")
        checkEqual(warden.runningPatrol(), null, "no patrol under way")
        val reports = warden.listReports()
        checkEqual(reports.map { it.id }.toSet(), setOf(cover, rubbish), "reports")
        check(reports.all { it.status == ReportStatus.Pending }) { "all pending: $reports" }
        checkEqual(reports.first { it.id == rubbish }.patrolId, patrol, "recorded during the patrol")
        checkEqual(warden.showReport(cover).photos.map { it.size }, listOf(jpeg(1).size.toLong()), "photo sizes")
        check(warden.status().outbox > 0) { "changes wait to be sent" }

        saw(expect<GridwardenException.Offline>("cannot reach the server") { warden.sync() }, Next.RETRY_LATER)
        checkEqual(syncInBackground(warden) { error("nothing was refused") }, JobResult.RETRY, "the docs' job")
        check(warden.showReport(cover).status == ReportStatus.Pending) { "nothing lost" }
    }

    step("cancel a sync: its token from another thread, its coroutine") {
        // The server is still down: a sync that retries until stopped.
        val forever = SyncOptions(maxAttempts = 0, firstRetryMs = 100, maxRetryMs = 200)

        val already = CancelToken().apply { cancel() }
        check(already.isCancelled()) { "a cancelled token stays cancelled" }
        saw(expect<GridwardenException.Cancelled>("cancelled") { warden.sync(forever, null, already) }, Next.NOTHING)

        // Blocking, on a worker thread, cancelled while it waits to retry.
        val token = CancelToken()
        val waiting = Recorder { it is SyncProgress.Waiting }
        val worker = async(Dispatchers.IO) { runCatching { warden.syncBlocking(forever, waiting, token) } }
        withTimeout(30_000) { waiting.woken.await() }
        val cancelledAt = System.nanoTime()
        token.cancel()
        val result = withTimeout(5_000) { worker.await() }
        check(result.exceptionOrNull() is GridwardenException.Cancelled) { "blocking sync ended with $result" }
        check(System.nanoTime() - cancelledAt < 1_500_000_000) { "cancelling is prompt" }
        checkEqual(waiting.kinds().first(), "Connecting", "the first progress")

        // Async, in a coroutine that is cancelled while connecting: the
        // awaiting coroutine ends at once, the library's call with it.
        val connecting = Recorder { it is SyncProgress.Connecting }
        val ended = CompletableDeferred<Throwable?>()
        val job = launch {
            try {
                warden.sync(forever, connecting)
                ended.complete(null)
            } catch (e: CancellationException) {
                ended.complete(e)
                throw e
            }
        }
        withTimeout(30_000) { connecting.woken.await() }
        job.cancel()
        withTimeout(5_000) { job.join() }
        check(ended.await() is CancellationException) { "the coroutine's sync was cancelled" }
        control("start-server", "started")
    }

    step("sync from a worker thread with a listener and a cancel token") {
        val progress = Recorder()
        val summary = withContext(Dispatchers.IO) { warden.syncBlocking(SyncOptions(), progress, CancelToken()) }
        check(summary.pushed >= 5) { "reports, the patrol and its points pushed: $summary" }
        checkEqual(summary.rejected, listOf<Rejection>(), "refused")
        checkEqual(summary.photosUploaded, 2L, "photos uploaded")
        checkEqual(summary.pending, 0L, "pending")
        val kinds = progress.kinds()
        checkEqual(kinds.first(), "Connecting", "the first progress")
        check("Transferring" in kinds && "Photo" in kinds) { "progress: $kinds" }
        for (report in warden.listReports()) {
            checkEqual(report.status, ReportStatus.Synced, "status of ${report.id}")
            checkEqual(report.gridCell, CELL, "the server placed ${report.id} in its cell")
            // showReport: listReports does not look up where photos stand.
            val photos = warden.showReport(report.id).photos
            checkEqual(photos.map { it.state }, listOf("uploaded"), "photos of ${report.id}")
        }
        val status = warden.status()
        checkEqual(status.outbox, 0L, "outbox")
        checkEqual(status.cells, listOf(CELL), "the warden's scope arrives with a sync")
        checkEqual(status.photos.budget, 256L * 1024 * 1024, "the default photo budget")
    }

    step("a photo budget drops full files the server holds and a fetch brings one back") {
        val storage = withContext(Dispatchers.IO) { warden.setPhotoBudget(0L) }
        checkEqual(storage.fullBytes, 0L, "no full photo files left")
        val dropped = warden.showReport(cover).photos.single()
        // The test's photos are JPEG magic bytes only: no thumbnail is made.
        checkEqual(dropped.here, "none", "where the photo stands")
        val copy = File(ROOT, "again.jpg")
        checkEqual(warden.fetchPhoto(dropped.hash, copy.path), jpeg(1).size.toLong(), "bytes fetched back")
        check(copy.readBytes().contentEquals(jpeg(1))) { "the photo fetched back is the one taken" }
        checkEqual(warden.setPhotoBudget(null).budget, null, "unlimited")
    }

    step("an edit comes back from the supervisor's device") {
        val lines = ConcurrentLinkedQueue<String>()
        val pulled = supervisor.sync(listener = ProgressToUi { lines.add(it) })
        check(pulled.pulled >= 2) { "pulled: $pulled" }
        check(lines.first().startsWith("Connecting")) { "the docs' listener: $lines" }
        val seenThere = supervisor.showReport(cover)
        checkEqual(seenThere.reporter, wardenUser, "reporter")
        val photo = seenThere.photos.single()
        checkEqual(photo.state, "remote", "the photo is on the server")
        val copy = File(ROOT, "fetched.jpg")
        checkEqual(supervisor.fetchPhoto(photo.hash, copy.path), jpeg(1).size.toLong(), "bytes fetched")
        check(copy.readBytes().contentEquals(jpeg(1))) { "the fetched photo is the one taken" }

        supervisor.editReport(cover, ReportChanges(note = "cover missing; barrier placed", address = "Lake Road 1"))
        checkEqual(supervisor.sync().pushed, 1L, "the supervisor's edit pushed")
        val back = withContext(Dispatchers.IO) { syncOnWorkerThread(warden, CancelToken()) }
        checkEqual(back, JobResult.SUCCESS, "the docs' worker")
        val mine = warden.showReport(cover)
        checkEqual(mine.note, "cover missing; barrier placed", "note")
        checkEqual(mine.address, "Lake Road 1", "address")
        checkEqual(mine.status, ReportStatus.Synced, "status")
    }

    step("the patrol with its points, on the phone and from the server") {
        val summary = warden.listPatrols().single()
        checkEqual(summary.id, patrol, "patrol")
        checkEqual(summary.points, 5, "points")
        check(rubbish in summary.reportIds) { "reports of the patrol: ${summary.reportIds}" }
        checkEqual(summary.coveredCells, listOf(CELL), "covered cells")
        checkEqual(summary.coverage, 1.0, "coverage")
        check(summary.distanceM > 50) { "distance ${summary.distanceM}" }
        checkEqual(warden.showPatrol(patrol).points.map { it.seq }, (0 until 5).toList(), "track")

        val listed = supervisor.remotePatrols(PatrolQuery(warden = wardenUser))
        checkEqual(listed.map { it.id }, listOf(patrol), "the warden's patrols on the server")
        val track = withContext(Dispatchers.IO) { supervisor.remotePatrolBlocking(patrol) }
        checkEqual(track.points.map { it.seq }, (0 until 5).toList(), "the track from the server")
        checkEqual(track.summary.points, 5, "points from the server")
        checkEqual(supervisor.listPatrols(), listOf(), "nothing stored on the supervisor's phone")
    }

    step("a case step refused with its reason") {
        val kerb = warden.recordReport(here("kerb stone loose"))
        checkEqual(warden.showCase(kerb).status, CaseStatus.REPORTED, "a new case")
        expect<GridwardenException.Rejected>("needs a reason") { warden.caseStep(kerb, CaseStep.Reject(reason = " ")) }
        // A warden may not register: queued, and refused by the server.
        val register = warden.caseStep(kerb, CaseStep.Register(note = "me"))
        checkEqual(warden.showCase(kerb).pending, listOf("register"), "pending steps")
        var refused = listOf<Rejection>()
        checkEqual(syncInBackground(warden) { refused = it }, JobResult.SUCCESS, "the docs' job")
        val rejection = refused.single()
        checkEqual(rejection.opId to rejection.reportId, register to kerb, "the refused step")
        checkEqual(rejection.code, "forbidden", "code")
        check("only a supervisor may register" in rejection.reason) { "reason: ${rejection.reason}" }
        val status = warden.showReport(kerb).status
        check(status is ReportStatus.Rejected && "only a supervisor may register" in status.reason) {
            "the report's status: $status"
        }
        val case = warden.showCase(kerb)
        checkEqual(case.status to case.pending, CaseStatus.REPORTED to listOf<String>(), "the case as the server has it")
        check(case.rejected.orEmpty().contains("only a supervisor may register")) { "case.rejected: ${case.rejected}" }
        check(warden.rejections().any { it.opId == register }) { "rejections()" }
        val reported = warden.listCases(CaseFilter(status = CaseStatus.REPORTED)).map { it.reportId }
        check(kerb in reported) { "cases still reported: $reported" }
    }

    step("a listener that throws ends the sync with Other") {
        val throwing = object : SyncListener {
            override fun onProgress(progress: SyncProgress) {
                throw IllegalStateException("listener bug")
            }
        }
        saw(expect<GridwardenException.Other>("listener") { warden.sync(listener = throwing) }, Next.CONTACT_IT)
    }

    step("every documented error arrived as its Kotlin type") {
        val all = listOf("Offline", "NotEnrolled", "Rejected", "Storage", "UpdateRequired", "Cancelled", "Other")
        checkEqual(seen.keys.sorted(), all.sorted(), "variants seen")
    }

    warden.close()
    supervisor.close()
}
