//! The Download Center's minijinja templates: loaded once at startup (autoescape on for
//! `.html`), or re-read on every render in dev mode.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Environment;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read templates from {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template error: {}", chain(.0))]
    Render(#[from] minijinja::Error),
}

/// minijinja nests the real cause (an include's error) in `source()`.
fn chain(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[derive(Clone)]
pub struct Templates {
    dir: PathBuf,
    reload: bool,
    env: Arc<Environment<'static>>,
}

impl Templates {
    pub fn load(dir: &Path, reload: bool) -> Result<Templates, TemplateError> {
        Ok(Templates {
            dir: dir.to_path_buf(),
            reload,
            env: Arc::new(build(dir)?),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn render<S: Serialize>(&self, name: &str, context: S) -> Result<String, TemplateError> {
        if self.reload {
            let env = build(&self.dir)?;
            return Ok(env
                .get_template(name)?
                .render(minijinja::value::Serde(&context))?);
        }
        Ok(self
            .env
            .get_template(name)?
            .render(minijinja::value::Serde(&context))?)
    }
}

/// Every `.html` file under `dir` (not `node_modules` or `static`), named by its relative path.
fn build(dir: &Path) -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|source| TemplateError::Read {
            path: folder.clone(),
            source,
        })?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "node_modules" && name != "static" {
                    pending.push(path);
                }
                continue;
            }
            if path.extension().is_some_and(|e| e == "html") {
                let source =
                    std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                        path: path.clone(),
                        source,
                    })?;
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                env.add_template_owned(rel, source)?;
            }
        }
    }
    Ok(env)
}
