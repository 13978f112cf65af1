//! Secrets in the configuration: values given inline or as files, the data
//! key ring, and the operator keys (kept only as hashes).

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ConfigError, invalid};
use crate::domain::DataKey;

/// A secret given inline or as a file (the file wins; surrounding whitespace
/// is trimmed). Both given is an error: one of them is stale.
pub(super) fn secret_value(
    setting: &str,
    inline: Option<SecretString>,
    file: Option<&Path>,
) -> Result<Option<SecretString>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(
            setting,
            "set either the value or the _file, not both",
        )),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                invalid(
                    format!("{setting}_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            Ok(Some(SecretString::from(text.trim().to_owned())))
        }
        (None, None) => Ok(None),
    }
}

/// An operator key (admin or service), kept as its SHA-256 and compared in
/// constant time.
#[derive(Clone)]
pub struct ApiKey([u8; 32]);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl ApiKey {
    pub fn new(setting: &str, key: &SecretString) -> Result<Self, ConfigError> {
        if key.expose_secret().len() < 16 {
            return Err(invalid(setting, "must be at least 16 characters"));
        }
        Ok(Self(Sha256::digest(key.expose_secret().as_bytes()).into()))
    }

    pub(super) fn same_as(&self, other: &ApiKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    pub fn matches(&self, given: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        self.0.ct_eq(&digest).into()
    }

    /// A short public name for the key, for the audit log: 8 hex digits of
    /// a hash of its hash (nothing usable about the key itself).
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"wxlogin key id\0");
        h.update(self.0);
        hex::encode(&h.finalize()[..4])
    }
}

/// The data key ring: `data_key`/`data_key_file` (one key), or
/// `data_keys`/`data_key_files` (a ring: the first seals, all open).
pub(super) fn data_key_ring(
    one: Option<SecretString>,
    one_file: Option<&Path>,
    many: Vec<SecretString>,
    many_files: &[PathBuf],
) -> Result<DataKey, ConfigError> {
    let single = secret_value("data_key", one, one_file)?;
    let forms = usize::from(single.is_some())
        + usize::from(!many.is_empty())
        + usize::from(!many_files.is_empty());
    if forms > 1 {
        return Err(invalid(
            "data_key",
            "set one of data_key(_file), data_keys or data_key_files",
        ));
    }
    let mut texts: Vec<SecretString> = single.into_iter().chain(many).collect();
    for (i, path) in many_files.iter().enumerate() {
        let setting = format!("data_key_files[{i}]");
        let key = secret_value(&setting, None, Some(path))?;
        texts.extend(key);
    }
    if texts.is_empty() {
        return Err(invalid(
            "data_key",
            "missing: run `wxlogin keygen > data.key` and set data_key_file = \"data.key\" (or WXLOGIN_DATA_KEY_FILE)",
        ));
    }
    let exposed: Vec<&str> = texts.iter().map(|t| t.expose_secret()).collect();
    DataKey::ring(&exposed).map_err(|e| invalid("data_key", e.to_string()))
}
