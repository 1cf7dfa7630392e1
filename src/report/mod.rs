//! Rendering typed analysis results to bytes. No math here.

pub mod table;
pub mod tables;
