pub mod daily;
