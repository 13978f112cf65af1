//! Fault injection: what can go wrong between a backend and WeChat, and the
//! per-endpoint table deciding whether the next call meets it.
//!
//! Deciding is separate from answering (`http.rs` renders the chosen fault), so
//! the decision happens under the state lock and the slow parts (latency, hang)
//! happen outside it.

use std::collections::HashMap;
use std::time::Duration;

use rand::RngExt as _;

use crate::model::SimEndpoint;

/// A fault armed on one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub kind: FaultKind,
    /// Strike the next `n` calls only; `None` strikes until cleared.
    pub times: Option<u32>,
    /// Chance that a call meets the fault (1.0 = always). Calls that escape it do
    /// not use up `times`.
    pub probability: f64,
    /// Process the call first (consume the code, rotate, mint), then answer with
    /// the fault: how a client's retry meets 40163 in production.
    pub after_commit: bool,
}

impl Fault {
    /// Every call, until cleared.
    pub fn always(kind: FaultKind) -> Self {
        Self {
            kind,
            times: None,
            probability: 1.0,
            after_commit: false,
        }
    }

    /// The next `n` calls, then the endpoint behaves again.
    pub fn times(kind: FaultKind, n: u32) -> Self {
        Self {
            times: Some(n),
            ..Self::always(kind)
        }
    }

    /// Each call independently with probability `p` (clamped to 0..=1).
    pub fn with_probability(kind: FaultKind, p: f64) -> Self {
        Self {
            probability: p,
            ..Self::always(kind)
        }
    }

    /// Apply the fault after the call changed state instead of before.
    pub fn after_commit(self) -> Self {
        Self {
            after_commit: true,
            ..self
        }
    }
}

/// What the caller meets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Sleep, then answer normally.
    Latency(Duration),
    /// `{"errcode":-1,"errmsg":"system error, rid: ..."}`.
    Busy,
    /// Any errcode, with WeChat's wording when the simulator knows it.
    Errcode(i64),
    /// HTTP 200 with a body that is not a WeChat answer.
    Garbage(Garbage),
    /// A proxy error page (or an empty body) with this status.
    HttpStatus { status: u16, body: bool },
    /// No answer until the client gives up (an hour, or until the server stops).
    Hang,
    /// Close the connection without answering.
    Reset,
}

/// Bodies a broken proxy or a half-written answer produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Garbage {
    /// `upstream error`
    NotJson,
    /// `{"openid":"o`
    TruncatedJson,
    /// `<html><body>502 Bad Gateway</body></html>` with status 200.
    Html,
    /// Nothing at all.
    Empty,
}

/// A fault that struck one call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Strike {
    pub kind: FaultKind,
    pub after_commit: bool,
}

/// The armed faults, one per endpoint at most.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    armed: HashMap<SimEndpoint, Fault>,
}

impl FaultTable {
    pub fn set(&mut self, endpoint: SimEndpoint, fault: Fault) {
        self.armed.insert(endpoint, fault);
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }

    /// Roll for the fault on `endpoint`; a strike uses up one of its `times`.
    pub fn draw(&mut self, endpoint: SimEndpoint) -> Option<Strike> {
        let fault = self.armed.get_mut(&endpoint)?;
        if fault.times == Some(0) {
            self.armed.remove(&endpoint);
            return None;
        }
        // `random::<f64>()` is in [0, 1): a probability of 1.0 or more always
        // strikes, 0.0 or less never, NaN never. No panic path, unlike
        // `random_bool`, which rejects values outside 0..=1.
        let p = if fault.probability.is_nan() {
            0.0
        } else {
            fault.probability
        };
        if p < 1.0 && rand::rng().random::<f64>() >= p {
            return None;
        }
        let strike = Strike {
            kind: fault.kind.clone(),
            after_commit: fault.after_commit,
        };
        if let Some(left) = fault.times.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.armed.remove(&endpoint);
            }
        }
        Some(strike)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_strikes_exactly_n_calls() {
        let mut table = FaultTable::default();
        table.set(SimEndpoint::Token, Fault::times(FaultKind::Busy, 2));
        assert!(table.draw(SimEndpoint::Token).is_some());
        assert!(table.draw(SimEndpoint::Token).is_some());
        assert!(table.draw(SimEndpoint::Token).is_none());
        assert!(table.draw(SimEndpoint::CheckSession).is_none());
    }

    #[test]
    fn probability_zero_and_nan_never_strike() {
        let mut table = FaultTable::default();
        for p in [0.0, f64::NAN, -3.0] {
            table.set(
                SimEndpoint::Token,
                Fault::with_probability(FaultKind::Busy, p),
            );
            assert!((0..100).all(|_| table.draw(SimEndpoint::Token).is_none()));
        }
        table.set(
            SimEndpoint::Token,
            Fault::with_probability(FaultKind::Busy, 7.0),
        );
        assert!(table.draw(SimEndpoint::Token).is_some());
    }
}
