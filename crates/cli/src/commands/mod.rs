pub mod containers;
pub mod images;
