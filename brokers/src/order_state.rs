//! Where a broker's order is, in Dalal's words.

use serde::Serialize;

/// A broker order's state as Dalal names it. Brokers report many intermediate states; they
/// collapse onto these so the gateway and the console read one vocabulary. A state a broker
/// invents later maps to [`OrderState::Unknown`], which is shown, never an error: the order's
/// quantities still tell what happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Received by the broker, not yet at the exchange (validation, routing).
    Pending,
    /// Working at the exchange, nothing filled.
    Open,
    /// Working at the exchange, partly filled.
    PartiallyFilled,
    /// A stop order waiting for its trigger.
    TriggerPending,
    /// An after-market order waiting for the session to open.
    AmoPending,
    /// A modification is on its way to the exchange.
    ModifyPending,
    /// A cancellation is on its way to the exchange.
    CancelPending,
    Filled,
    Cancelled,
    Rejected,
    Unknown,
}

impl OrderState {
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderState::Pending => "pending",
            OrderState::Open => "open",
            OrderState::PartiallyFilled => "partially_filled",
            OrderState::TriggerPending => "trigger_pending",
            OrderState::AmoPending => "amo_pending",
            OrderState::ModifyPending => "modify_pending",
            OrderState::CancelPending => "cancel_pending",
            OrderState::Filled => "filled",
            OrderState::Cancelled => "cancelled",
            OrderState::Rejected => "rejected",
            OrderState::Unknown => "unknown",
        }
    }

    /// True for states that never change again.
    pub const fn is_terminal(self) -> bool {
        matches!(self, OrderState::Filled | OrderState::Cancelled | OrderState::Rejected)
    }
}

impl std::fmt::Display for OrderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
