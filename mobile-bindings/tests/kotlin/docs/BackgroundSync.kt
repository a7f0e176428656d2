import uniffi.gridwarden_mobile.CancelToken
import uniffi.gridwarden_mobile.GridwardenClient
import uniffi.gridwarden_mobile.GridwardenException
import uniffi.gridwarden_mobile.Rejection
import uniffi.gridwarden_mobile.SyncListener
import uniffi.gridwarden_mobile.SyncOptions
import uniffi.gridwarden_mobile.SyncProgress

/** What a background job tells its scheduler (WorkManager's `Result`). */
enum class JobResult { SUCCESS, RETRY, FAILURE }

/**
 * One sync from a `CoroutineWorker`: the async `sync` is awaited, so stopping
 * the worker (its coroutine is cancelled) stops the sync. Changes the server
 * refused are not a failure of the sync: they go to `onRejected`.
 */
suspend fun syncInBackground(
    client: GridwardenClient,
    onRejected: (List<Rejection>) -> Unit,
): JobResult =
    try {
        val summary = client.sync()
        if (summary.rejected.isNotEmpty()) onRejected(summary.rejected)
        JobResult.SUCCESS
    } catch (e: GridwardenException.Offline) {
        JobResult.RETRY // nothing is lost; the scheduler tries again later
    } catch (e: GridwardenException.Cancelled) {
        JobResult.RETRY
    } catch (e: GridwardenException) {
        JobResult.FAILURE
    }

/**
 * The same from a plain `Worker`, on its own thread: `syncBlocking` parks the
 * thread until the sync is over; `onStopped()` calls `cancel.cancel()`.
 */
fun syncOnWorkerThread(client: GridwardenClient, cancel: CancelToken): JobResult =
    try {
        client.syncBlocking(SyncOptions(maxAttempts = 3), null, cancel)
        JobResult.SUCCESS
    } catch (e: GridwardenException.Offline) {
        JobResult.RETRY
    } catch (e: GridwardenException.Cancelled) {
        JobResult.RETRY
    } catch (e: GridwardenException) {
        JobResult.FAILURE
    }

/**
 * Progress for a sync the user started: called on the library's thread, so it
 * only hands the figures on (to a `StateFlow`, `runOnUiThread`) and returns.
 */
class ProgressToUi(private val show: (String) -> Unit) : SyncListener {
    override fun onProgress(progress: SyncProgress) {
        when (progress) {
            is SyncProgress.Connecting -> show("Connecting (attempt ${progress.attempt})")
            is SyncProgress.Transferring -> show("Sent ${progress.pushed}, received ${progress.pulled}")
            is SyncProgress.Photo -> show(
                "Photo ${progress.photo} of ${progress.photos}: ${progress.sent / 1000} of ${progress.total / 1000} KB, " +
                    "${progress.rateBytesPerS / 1000} KB/s" +
                    (progress.leftMs?.let { ", ${it / 1000} s left" } ?: "")
            )
            is SyncProgress.Waiting -> show("No connection, trying again in ${progress.delayMs / 1000} s")
        }
    }
}
