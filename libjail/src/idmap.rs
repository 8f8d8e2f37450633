//! Id maps.
