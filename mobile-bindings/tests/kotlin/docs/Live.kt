import uniffi.gridwarden_mobile.GridwardenClient
import uniffi.gridwarden_mobile.LiveEvent
import uniffi.gridwarden_mobile.LiveListener
import uniffi.gridwarden_mobile.NoticeKind

/**
 * A screen's live connection: started when it comes to the foreground,
 * stopped when it leaves. A task for this user shows at once, without
 * polling; the listener runs on the library's thread, so it hands over.
 */
class TasksScreen(
    private val client: GridwardenClient,
    private val onUi: (() -> Unit) -> Unit,
    private val showTasks: (Int) -> Unit,
) : LiveListener {
    fun onResume() = client.startLive(this)

    fun onPause() = client.stopLive()

    override fun onEvent(event: LiveEvent) {
        if (event is LiveEvent.Pulled && event.kind == NoticeKind.TASK) {
            onUi { showTasks(client.tasks().size) }
        }
    }
}
