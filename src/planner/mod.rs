//! The planner: turns what a source says into a [`Plan`], and judges it with the deletion
//! guard. It does no I/O and reads no clock; time comes in as a parameter.

mod build;
pub mod guard;
mod plan;

pub use build::{plan, PlanSettings};
pub use guard::{judge, withhold_destructive, GuardSettings, Verdict};
pub use plan::*;
