pub mod containers;
pub mod images;
pub mod network;
pub mod registry;
pub mod verbs;
pub mod volumes;
