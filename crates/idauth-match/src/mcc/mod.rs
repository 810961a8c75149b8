//! Minutia Cylinder-Code (MCC16b): per-minutia bit cylinders and the finger template
//! that carries them.

pub mod cylinder;
pub mod hull;
pub mod params;
pub mod template;

pub use cylinder::{BitCylinder, Point};
pub use params::MccParams;
pub use template::FingerTemplate;
