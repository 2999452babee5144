//! Backtests: the same stages, fused, on the calling thread, driven by recorded ticks. Event
//! time comes from the ticks, so the clock is simulated by construction and two runs over the
//! same file produce the same orders and fills.

use crate::engine::setup::EngineSetup;
use crate::engine::Engine;
use crate::model::{EgressEvent, Fill, IngressEvent, Input, Tick};
use crate::model::{Order, OrderId};

/// Orders (final state) and fills of a run.
#[derive(Default, Debug)]
pub struct Blotter {
    pub fills: Vec<Fill>,
    /// Latest state of each order, indexed by id − 1.
    pub orders: Vec<Order>,
}

impl Blotter {
    pub fn on_event(&mut self, ev: &EgressEvent) {
        match *ev {
            EgressEvent::Fill(f) => self.fills.push(f),
            EgressEvent::Order { order, .. } => {
                let i = (order.id.0 as usize).wrapping_sub(1);
                if i < self.orders.len() {
                    self.orders[i] = order;
                } else if i == self.orders.len() {
                    self.orders.push(order);
                }
            }
            EgressEvent::Empty
            | EgressEvent::Candle(_)
            | EgressEvent::VenueRequest(_)
            | EgressEvent::VenueNotice(_) => {}
        }
    }

    pub fn order(&self, id: OrderId) -> Option<&Order> {
        self.orders.get((id.0 as usize).wrapping_sub(1))
    }
}

/// Runs `ticks` through a fresh engine built from `setup`. `sample_every` controls stage
/// timing (0 = off, the fastest; timing never changes results).
pub fn run(setup: &EngineSetup, ticks: &[Tick], sample_every: u32) -> (Engine, Blotter) {
    let (mut engine, mut blotter) = start(setup, sample_every);
    replay(&mut engine, &mut blotter, ticks, sample_every);
    (engine, blotter)
}

/// A fresh engine with the start-of-run commands applied, ready for [`replay`]. Apart so a
/// throughput figure can leave out what a run pays once: calibrating the clock against the
/// system's (milliseconds, whatever the tape's length) and sizing the stages.
pub fn start(setup: &EngineSetup, sample_every: u32) -> (Engine, Blotter) {
    let clock = quanta::Clock::new();
    let mut engine = Engine::new(setup, clock, sample_every);
    let mut blotter = Blotter::default();
    engine.apply_initial(setup, &mut |e| blotter.on_event(&e));
    (engine, blotter)
}

/// Steps `ticks` through `engine`, in order, onto `blotter`.
pub fn replay(engine: &mut Engine, blotter: &mut Blotter, ticks: &[Tick], sample_every: u32) {
    let stamp = sample_every != 0;
    for t in ticks {
        let ingress_raw = if stamp { engine.clock().raw() } else { 0 };
        engine.step(&IngressEvent { input: Input::Tick(*t), ingress_raw, source: 0 }, &mut |e| blotter.on_event(&e));
    }
}
