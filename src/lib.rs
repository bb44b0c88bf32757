//! idsync keeps an application's users and groups in line with the customer's identity
//! provider. The pipeline: a connector fetches records, the [`matcher`] finds each record's
//! local user, the [`planner`] turns the difference into a plan, and the [`store`] applies it.

pub mod local;
pub mod matcher;
pub mod planner;
pub mod store;
