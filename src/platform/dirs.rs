//! Where vegas keeps its cache, from the environment: `VEGAS_CACHE_DIR`,
//! else `$XDG_CACHE_HOME/vegas` (macOS: `~/Library/Caches/vegas`), else
//! `~/.cache/vegas`.
//!
//! A relative path is refused, not resolved: `credential_process` runs in
//! whatever directory the AWS tool runs in, so a relative cache would be a
//! different one in each, and could be one somebody else prepared.

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::hint::Hint;

/// A cache place that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("{variable} is a relative path ({}); the cache needs an absolute one", path.display())]
    Relative {
        variable: &'static str,
        path: PathBuf,
    },
}

impl Hint for DirError {
    fn hint(&self) -> Cow<'_, str> {
        match self {
            DirError::Relative { variable: "HOME", .. } => Cow::Borrowed(
                "set HOME to the absolute path of your home directory, or VEGAS_CACHE_DIR to an absolute path",
            ),
            DirError::Relative { variable, .. } => Cow::Owned(format!(
                "set {variable} to an absolute path (e.g. {variable}=$HOME/.cache), or unset it"
            )),
        }
    }
}

/// The cache directory, or `None` when not even HOME is set.
pub fn cache_dir() -> Result<Option<PathBuf>, DirError> {
    cache_dir_from(|name| std::env::var_os(name), cfg!(target_os = "macos"))
}

fn cache_dir_from(
    var: impl Fn(&str) -> Option<OsString>,
    macos: bool,
) -> Result<Option<PathBuf>, DirError> {
    let absolute = |variable: &'static str| -> Result<Option<PathBuf>, DirError> {
        match var(variable).filter(|v| !v.is_empty()).map(PathBuf::from) {
            Some(path) if path.is_relative() => Err(DirError::Relative { variable, path }),
            found => Ok(found),
        }
    };
    if let Some(dir) = absolute("VEGAS_CACHE_DIR")? {
        return Ok(Some(dir));
    }
    if macos {
        return Ok(absolute("HOME")?.map(|h| h.join("Library/Caches/vegas")));
    }
    if let Some(dir) = absolute("XDG_CACHE_HOME")? {
        return Ok(Some(dir.join("vegas")));
    }
    Ok(absolute("HOME")?.map(|h| h.join(".cache/vegas")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(vars: &[(&str, &str)], macos: bool) -> Result<Option<PathBuf>, DirError> {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        cache_dir_from(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            macos,
        )
    }

    #[test]
    fn the_cache_dir_comes_from_vegas_then_xdg_then_home() {
        let all = [
            ("VEGAS_CACHE_DIR", "/v"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(dir(&all, false).unwrap(), Some("/v".into()));
        assert_eq!(dir(&all[1..], false).unwrap(), Some("/x/vegas".into()));
        assert_eq!(
            dir(&all[2..], false).unwrap(),
            Some("/h/.cache/vegas".into())
        );
        assert_eq!(
            dir(&all[1..], true).unwrap(),
            Some("/h/Library/Caches/vegas".into())
        );
        let empty = [("VEGAS_CACHE_DIR", ""), ("HOME", "/h")];
        assert_eq!(dir(&empty, false).unwrap(), Some("/h/.cache/vegas".into()));
        assert_eq!(dir(&[], false).unwrap(), None);
    }

    #[test]
    fn a_relative_cache_dir_is_refused_with_the_variable_named() {
        for variable in ["VEGAS_CACHE_DIR", "XDG_CACHE_HOME"] {
            let err = dir(&[(variable, "cache"), ("HOME", "/h")], false).unwrap_err();
            assert!(err.to_string().starts_with(variable), "{err}");
            assert!(err.hint().contains(variable));
        }
    }
}
