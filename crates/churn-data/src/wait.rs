//! Waiting on helper threads without starving rayon.
//!
//! Several stages hand work to a thread of their own (a Parquet writer, a reader running
//! ahead) and wait for it: a bounded channel that is full, a thread to finish. The helper
//! threads use the global rayon pool (Parquet columns are encoded in parallel). When the
//! waiting thread is itself a rayon worker — a service that runs stages inside `par_iter`,
//! say — a plain blocking wait keeps that worker from running the helper's rayon jobs, and
//! once every worker waits so, nothing runs and the process hangs. These waits run pending
//! rayon jobs while they wait on a worker thread, and block as usual on any other thread.

use std::sync::mpsc::{Receiver, RecvError, SendError, SyncSender, TryRecvError, TrySendError};
use std::thread::ScopedJoinHandle;
use std::time::Duration;

/// Lets a rayon worker run one pending job of its pool, or pauses briefly when there is
/// none.
fn pause() {
    if rayon::yield_now() != Some(rayon::Yield::Executed) {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// True on a thread of a rayon pool.
fn on_worker() -> bool {
    rayon::current_thread_index().is_some()
}

/// Sends `item`, waiting while the channel is full; an error when the receiver is gone.
pub fn send<T>(tx: &SyncSender<T>, item: T) -> Result<(), SendError<T>> {
    if !on_worker() {
        return tx.send(item);
    }
    let mut item = item;
    loop {
        match tx.try_send(item) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(back)) => return Err(SendError(back)),
            Err(TrySendError::Full(back)) => {
                item = back;
                pause();
            }
        }
    }
}

/// Receives the next item, waiting while the channel is empty; an error when every sender
/// is gone and the channel is drained.
pub fn recv<T>(rx: &Receiver<T>) -> Result<T, RecvError> {
    if !on_worker() {
        return rx.recv();
    }
    loop {
        match rx.try_recv() {
            Ok(item) => return Ok(item),
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) => pause(),
        }
    }
}

/// The items of `rx` until every sender is gone, received with [`recv`].
pub fn iter<T>(rx: &Receiver<T>) -> impl Iterator<Item = T> + '_ {
    std::iter::from_fn(move || recv(rx).ok())
}

/// Waits for a scoped thread to finish and returns what it returned (or its panic).
pub fn join<T>(handle: ScopedJoinHandle<'_, T>) -> std::thread::Result<T> {
    if on_worker() {
        while !handle.is_finished() {
            pause();
        }
    }
    handle.join()
}
