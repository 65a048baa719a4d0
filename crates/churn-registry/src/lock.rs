//! The registry's writer lock: an advisory exclusive lock on `<registry>/.lock`, so two
//! processes changing the registry at once are serialised and no update is lost. The
//! operating system releases it when the holder exits, even by a crash, so a dead
//! writer never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct RegistryLock {
    file: File,
    path: PathBuf,
}

impl RegistryLock {
    /// Waits up to `timeout` for the lock of the registry at `root`.
    pub fn acquire(root: &Path, timeout: Duration) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, "create folder", e))?;
        let path = root.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "open the lock file", e))?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { file, path }),
                Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::LockTimeout {
                        path,
                        seconds: started.elapsed().as_secs(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, "lock", e)),
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RegistryLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
