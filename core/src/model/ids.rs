//! Dense identifiers. Symbols and account names are resolved to these at the edges so the hot
//! path indexes pre-sized arrays instead of hashing strings.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! dense_id {
    ($(#[$m:meta])* $name:ident, $repr:ty) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $repr);

        impl $name {
            /// Position in the engine's pre-sized arrays.
            #[inline]
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

dense_id!(
    /// Index into the engine's instrument table.
    InstrumentId,
    u32
);
dense_id!(
    /// Index into the engine's account table.
    AccountId,
    u16
);
dense_id!(
    /// Index into the engine's strategy table (across all accounts).
    StrategyId,
    u16
);
impl StrategyId {
    /// Orders the engine places itself: risk square-offs, MIS auto square-off.
    pub const SYSTEM: StrategyId = StrategyId(u16::MAX);
}

dense_id!(
    /// Engine-assigned order number, dense from 1 in the order they reached the order stage.
    OrderId,
    u64
);
dense_id!(
    /// Engine-assigned fill number, dense from 1.
    FillId,
    u64
);
