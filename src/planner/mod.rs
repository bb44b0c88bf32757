//! The planner: turns what a source says into a [`Plan`], and judges it with the deletion
//! guard. It does no I/O and reads no clock; time comes in as a parameter.
//!
//! `model.rs` holds the `Plan` and its rendering (the dry-run output), `plan.rs` the
//! planning function, `groups.rs` its group and membership part, `guard.rs` the deletion
//! guard.

mod groups;
pub mod guard;
mod model;
mod plan;

pub use guard::{judge, withhold_destructive, GuardSettings, Verdict};
pub use model::*;
pub use plan::{plan, PlanSettings};
