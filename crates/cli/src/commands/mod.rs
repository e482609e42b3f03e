pub mod containers;
pub mod images;
pub mod volumes;
