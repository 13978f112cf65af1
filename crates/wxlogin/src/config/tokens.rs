//! `[tokens]`: which access tokens the service issues, checked at startup.

use super::{ConfigError, invalid};
use crate::domain::jwt::{TokenFormat, TokenSettings};

/// One clear line per mistake; the issuer must be a URL a verifier can
/// fetch the JWKS from (https, or http on a loopback host).
pub(super) fn validate(t: &TokenSettings) -> Result<(), ConfigError> {
    if !(30..=86_400).contains(&t.access_ttl) {
        return Err(invalid("tokens.access_ttl", "must be 30..=86400 seconds"));
    }
    if t.key_rotation < 3600 || t.key_rotation < 4 * t.access_ttl {
        return Err(invalid(
            "tokens.key_rotation",
            "must be at least 3600 seconds and 4 × access_ttl",
        ));
    }
    if t.format != TokenFormat::Jwt {
        return Ok(());
    }
    let Some(issuer) = &t.issuer else {
        return Err(invalid(
            "tokens.issuer",
            "required with format = \"jwt\": this service's public URL, e.g. https://login.example.com",
        ));
    };
    let url =
        url::Url::parse(issuer).map_err(|_| invalid("tokens.issuer", "must be an absolute URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                "tokens.issuer",
                "must be https (http only on a loopback host)",
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("tokens.issuer", "must have no query or fragment"));
    }
    Ok(())
}
