import java.io.File
import uniffi.gridwarden_mobile.GridwardenClient

/**
 * The app's client, opened once (Application.onCreate or a DI singleton) with
 * `context.filesDir`: private storage the OS does not clear, unlike the cache
 * directory. Works offline and before enrolment.
 */
fun openGridwarden(filesDir: File): GridwardenClient =
    GridwardenClient.open(File(filesDir, "gridwarden").path)
