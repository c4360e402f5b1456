//! One pass over a file's bytes: its length, its sha256, and whether any byte is not zero.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::Rejection;

pub(super) struct Scanned {
    pub bytes: u64,
    pub sha256: String,
    pub all_zero: bool,
}

pub(super) fn scan(path: &Path) -> Result<Scanned, Rejection> {
    let mut file = std::fs::File::open(path).map_err(|e| Rejection::unreadable(path, &e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    let mut all_zero = true;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Rejection::unreadable(path, &e)),
        };
        let chunk = &buffer[..n];
        hasher.update(chunk);
        all_zero = all_zero && chunk.iter().all(|b| *b == 0);
        bytes += n as u64;
    }
    Ok(Scanned {
        bytes,
        sha256: hex::encode(hasher.finalize()),
        all_zero,
    })
}
