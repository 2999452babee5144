//! The execution seam's vocabulary. An order of a live account leaves the engine as a
//! [`VenueRequest`] on the egress path; everything its venue says about it comes back as a
//! [`VenueReport`] through the ingress ring, so a live session is journaled and replays
//! exactly. Ids and texts from venues are fixed-size, so every ring slot stays `Copy`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{AccountId, Order, OrderId, Price, Qty, Timestamp};

/// Which live venue (a broker login, the exchange simulator): a dense index into the engine's
/// venue table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VenueId(pub u16);

/// Where an account's orders go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Route {
    /// The in-line paper exchange (deterministic; the default).
    #[default]
    Paper,
    /// A live venue, through its gateway.
    Live(VenueId),
}

macro_rules! short_text {
    ($(#[$m:meta])* $name:ident, $cap:expr, $what:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            len: u8,
            bytes: [u8; $cap],
        }

        impl $name {
            pub const MAX: usize = $cap;
            pub const EMPTY: $name = $name { len: 0, bytes: [0; $cap] };

            /// `None` when the text is longer than [`Self::MAX`] bytes or holds a control
            /// character.
            pub fn new(s: &str) -> Option<$name> {
                let b = s.as_bytes();
                if b.len() > $cap || b.iter().any(|c| c.is_ascii_control()) {
                    return None;
                }
                let mut bytes = [0u8; $cap];
                bytes[..b.len()].copy_from_slice(b);
                Some($name { len: b.len() as u8, bytes })
            }

            pub fn as_str(&self) -> &str {
                // Built only from a &str cut at its full length, so always valid UTF-8.
                std::str::from_utf8(self.bytes.get(..usize::from(self.len)).unwrap_or(&[])).unwrap_or("")
            }

            pub fn is_empty(&self) -> bool {
                self.len == 0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::EMPTY
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(&s).ok_or_else(|| serde::de::Error::custom(format!("{:?} is not {}", s, $what)))
            }
        }
    };
}

short_text!(
    /// A venue's own order id (broker order numbers run to 15–18 digits).
    VenueOrderId,
    23,
    "a venue order id of at most 23 bytes"
);
short_text!(
    /// A venue's trade (execution) id.
    VenueTradeId,
    23,
    "a venue trade id of at most 23 bytes"
);
short_text!(
    /// A venue's reason for refusing or cancelling an order, cut to fit.
    ReasonText,
    39,
    "a reason of at most 39 bytes"
);

impl ReasonText {
    /// `s` cut at a character boundary to fit, control characters dropped: a venue's message
    /// is shown as much as it fits, never refused.
    pub fn lossy(s: &str) -> ReasonText {
        let mut out = String::new();
        for c in s.chars().filter(|c| !c.is_control()) {
            if out.len() + c.len_utf8() > ReasonText::MAX {
                break;
            }
            out.push(c);
        }
        ReasonText::new(&out).unwrap_or(ReasonText::EMPTY)
    }
}

/// What a venue says about an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportKind {
    /// The venue took the order (its id is in the report).
    Accepted,
    /// The venue (or its risk system) refused it; `code` is the venue's, when it has one.
    Rejected { code: u16, reason: ReasonText },
    /// An execution.
    Fill { trade: VenueTradeId, price: Price, qty: Qty },
    /// It stopped working: asked for, or the exchange's own doing.
    Cancelled { reason: ReasonText },
    /// Its quantity or prices changed (zero keeps the current value).
    Modified { qty: Qty, price: Price, trigger: Price },
    /// A DAY order still working at the close.
    Expired,
    /// A stop order's trigger was hit.
    Triggered,
}

/// A venue's report about one order, as its gateway publishes it into the ingress ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueReport {
    pub venue: VenueId,
    /// The account the order belongs to, as the gateway knows it.
    pub account: AccountId,
    /// Our id when the venue echoes it (the client order id); `OrderId(0)` when only the
    /// venue's own id is known (an order the venue reports of its own accord).
    pub order: OrderId,
    pub venue_order: VenueOrderId,
    /// The venue's time of the event.
    pub ts: Timestamp,
    pub kind: ReportKind,
}

/// What the engine asks a live venue to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestKind {
    /// Place this order (its id is the client order id the venue should echo). `reference`
    /// is the last trade the engine saw in the instrument: the protection price a market
    /// order may need, and the price a simulated venue fills a market order at.
    New {
        order: Order,
        reference: Price,
    },
    /// New total quantity, limit and trigger (zero keeps the current value).
    Modify {
        order: OrderId,
        venue_order: VenueOrderId,
        qty: Qty,
        price: Price,
        trigger: Price,
    },
    Cancel {
        order: OrderId,
        venue_order: VenueOrderId,
    },
}

/// A request for a live venue, on the egress path for its gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueRequest {
    pub venue: VenueId,
    pub kind: RequestKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_fit_or_are_refused_and_reasons_are_cut() {
        assert_eq!(VenueOrderId::new("241202000123456").map(|v| v.to_string()), Some("241202000123456".into()));
        assert!(VenueOrderId::new(&"9".repeat(24)).is_none());
        assert!(VenueTradeId::new("a\nb").is_none());
        let long = "RMS: Margin Exceeds, Required: 12345.60, Available: 100.00 for entity account";
        let r = ReasonText::lossy(long);
        assert_eq!(r.as_str(), &long[..ReasonText::MAX]);
        assert_eq!(ReasonText::lossy("₹ too\u{7}").as_str(), "₹ too");
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(serde_json::from_str::<ReasonText>(&json).ok(), Some(r));
    }
}
