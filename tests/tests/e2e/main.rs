//! The end-to-end suite: one binary, so the workspace links it once.
//! Every test runs a real server and real client cores over QUIC on loopback.
// Tests and their helpers: a failed unwrap is the failure report.
#![allow(clippy::unwrap_used)]

mod architecture;
mod bad_input;
mod balancer;
mod cases;
mod city_grid;
mod cli;
mod clocks;
mod console;
mod console_api;
mod convergence;
mod fanout;
mod faults;
mod field;
mod field_loop;
mod grid_layers;
mod integrity;
mod kotlin;
mod live;
mod mobile;
mod no_echo;
mod open311;
mod operations;
mod patrols_photos;
mod pg_faults;
mod photo_budget;
mod postgres;
mod reconnect;
mod resumption;
mod security;
mod sim_remote;
mod stranded;
mod sync_gaps;
mod upgrade;
mod versions;
