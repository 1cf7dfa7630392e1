//! The page: [`builder`] keeps every figure and table as a file and makes
//! the block that shows it, with the page's limits applied to every
//! section alike; [`html`] renders the one self-contained page; [`table`]
//! is a plain table with its text and CSV renderings; [`provenance`]
//! names the bytes every run came from.

pub mod builder;
pub mod html;
pub mod provenance;
pub mod table;
