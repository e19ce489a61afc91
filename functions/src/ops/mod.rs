pub mod migrate;
pub mod seed;
