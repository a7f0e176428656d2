//! Where the engine's store work runs while a sync's connection goes on.
//!
//! Storing a pulled page (a thousand inserts) or an ack takes milliseconds
//! of CPU. The answer to the next request (the page asked for ahead, the
//! next push's ack) is meanwhile arriving on the connection, whose QUIC
//! tasks run on the same runtime: on a multi-threaded runtime the store work
//! first hands the worker's other tasks to another thread
//! (`block_in_place`), so receiving, decrypting and reassembling the next
//! answer overlaps the storing of this one on a phone's second core. On a
//! current-thread runtime there is no other thread, and it runs in place.
//! [`crate::Client`]'s own runtime and the phone bindings' are
//! multi-threaded; a sync future run by `Runtime::block_on` is on the
//! caller's thread, not a worker, so its QUIC tasks already run apart.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work` (store work of the engine) off the runtime's worker when the
/// runtime has others to carry on.
pub(crate) fn storing<T>(work: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::storing;

    #[test]
    fn runs_in_place_outside_a_runtime_and_on_a_current_thread_one() {
        assert_eq!(storing(|| 1), 1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(async { storing(|| 2) }), 2);
    }

    #[test]
    fn a_worker_of_a_multi_threaded_runtime_hands_its_tasks_over_first() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let answer = runtime.block_on(async {
            // On the only worker: the task spawned below can run only
            // because the store work gave the worker up.
            tokio::spawn(async {
                let (tx, rx) = std::sync::mpsc::channel();
                tokio::spawn(async move { tx.send(3).unwrap() });
                storing(|| rx.recv_timeout(std::time::Duration::from_secs(10)))
            })
            .await
            .unwrap()
        });
        assert_eq!(answer, Ok(3));
    }
}
