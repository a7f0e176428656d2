import uniffi.gridwarden_mobile.GridwardenException

/** What the app does about a failed call. */
enum class Next { RETRY_LATER, ENROL, CORRECT_INPUT, FREE_SPACE, UPDATE_APP, NOTHING, CONTACT_IT }

/**
 * Every call throws only `GridwardenException`, a sealed class: this `when`
 * has no `else`, so a new variant in a later version fails to compile here
 * instead of falling through. `e.message` is the core's sentence, written
 * for a warden to read: show it as it is.
 */
fun nextStep(e: GridwardenException): Next =
    when (e) {
        is GridwardenException.Offline -> Next.RETRY_LATER
        is GridwardenException.NotEnrolled -> Next.ENROL
        is GridwardenException.Rejected -> Next.CORRECT_INPUT
        is GridwardenException.Storage -> Next.FREE_SPACE
        is GridwardenException.UpdateRequired -> Next.UPDATE_APP
        is GridwardenException.Cancelled -> Next.NOTHING
        is GridwardenException.Other -> Next.CONTACT_IT
    }
