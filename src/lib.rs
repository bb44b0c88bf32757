//! idsync keeps an application's users and groups in line with the customer's identity
//! provider. The pipeline: a connector fetches records, the [`matcher`] finds each record's
//! local user, the [`planner`] turns the difference into a plan, and the [`store`] applies it;
//! [`reconcile`] runs those steps for one connector, the [`daemon`] on a schedule.

pub mod admin;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod console;
pub mod daemon;
pub mod listener;
pub mod local;
pub mod matcher;
pub mod planner;
pub mod reconcile;
pub mod registry;
pub mod scim;
pub mod secrets;
pub mod store;
pub mod supervise;
pub mod tenant;
pub mod tls;
pub mod webhooks;
