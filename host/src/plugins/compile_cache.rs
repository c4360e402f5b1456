//! Compiled plugins cached on disk, keyed by the wasm's sha256 and the engine's compatibility
//! hash (which covers the wasmtime version and its settings): compile once, load in < 1 ms.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Whether a component came from the cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
    /// No cache directory could be used; compiled in memory.
    Uncached,
}

#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn entry(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// The compiled component for `wasm` (whose sha256 is `digest`).
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let entry = self.entry(engine, digest);
        if entry.is_file() {
            // SAFETY: the file sits in the host's own cache directory, was written by
            // `store` below from the bytes whose digest names it, and wasmtime checks that it
            // was produced by a compatible engine. Whoever can replace it can replace the
            // host binary too.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => tracing::warn!(
                    "ignoring unusable compile cache entry {}: {e}",
                    entry.display()
                ),
            }
        }
        let component = Component::new(engine, wasm)?;
        match store(&entry, &component) {
            Ok(()) => Ok((component, CacheOutcome::Compiled)),
            Err(e) => {
                tracing::warn!("cannot write compile cache entry {}: {e}", entry.display());
                Ok((component, CacheOutcome::Uncached))
            }
        }
    }
}

/// Writes atomically: a crash never leaves a half-written artifact under the final name.
fn store(entry: &Path, component: &Component) -> Result<(), String> {
    let dir = entry.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let bytes = component.serialize().map_err(|e| format!("{e:#}"))?;
    // A uniquely named temporary file: several loads (threads or processes) may race here.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut tmp, &bytes).map_err(|e| e.to_string())?;
    tmp.persist(entry).map(drop).map_err(|e| e.to_string())
}
