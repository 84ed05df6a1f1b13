pub mod admin;
pub mod auth;
pub mod functions;
pub mod health;
pub mod logs;
pub mod me;
pub mod registries;
pub mod samples;
