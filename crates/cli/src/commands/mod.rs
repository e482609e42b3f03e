pub mod containers;
pub mod images;
pub mod network;
pub mod registry;
pub mod volumes;
pub mod verbs;
