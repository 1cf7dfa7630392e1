//! Rendering typed analysis results to bytes. No math here.
